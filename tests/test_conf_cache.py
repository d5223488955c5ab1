"""WXPAY_MEDIA is read, merged and judged once per change, not on every get_setting() (issue 15)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_wxpay_media import conf


@pytest.fixture
def key_files(settings, tmp_path, wxpay_sandbox):
    """A complete setting whose keys are files: removing one shows whether it is read again."""
    settings.DEBUG = True  # the sandbox's loopback URL is no warning (W001)
    settings.WXPAY_MEDIA = wxpay_sandbox.settings(paths_dir=tmp_path)
    return settings


def test_reading_values_reuses_one_judgement_until_the_setting_changes(key_files):
    first = conf.judged()
    for _ in range(3):
        conf.get_setting("TIMEOUT")
        conf.get_setting("MCHID")
        conf.get_settings()
        conf.upload_timeout()
        conf.configuration_problems()
        assert conf.is_configured()
    assert conf.judged() is first
    assert conf.upload_timeout() is conf.upload_timeout()  # the stale window, asked per row, computed once
    with override_settings(WXPAY_MEDIA={**key_files.WXPAY_MEDIA, "TIMEOUT": 3}):
        inside = conf.judged()
        assert inside is not first
        assert conf.get_setting("TIMEOUT") == 3
    assert conf.judged() is not inside
    assert conf.get_setting("TIMEOUT") == 10


def test_key_files_are_read_once_per_change(key_files):
    assert conf.configuration_problems() == []
    Path(key_files.WXPAY_MEDIA["PRIVATE_KEY_PATH"]).unlink()
    # Judged already: the file is not read again by the next check or upload.
    assert conf.configuration_problems() == []
    assert conf.is_configured()
    # The same object, but a setting_changed signal: the handler drops the judgement.
    with override_settings(WXPAY_MEDIA=key_files.WXPAY_MEDIA):
        assert [p.id for p in conf.configuration_problems()] == ["E008"]
        assert not conf.is_configured()


def test_reset_client_forgets_the_judged_setting(key_files):
    conf.get_client()
    Path(key_files.WXPAY_MEDIA["PRIVATE_KEY_PATH"]).unlink()
    assert conf.is_configured()
    conf.reset_client()
    assert [p.id for p in conf.configuration_problems()] == ["E008"]
    with pytest.raises(conf.ConfigurationProblem, match=r"E008"):
        conf.get_client()


def test_storages_and_debug_changes_are_judged_again(key_files):
    key_files.WXPAY_MEDIA = {**key_files.WXPAY_MEDIA, "STORAGE": "evidence"}
    assert [p.id for p in conf.configuration_problems()] == ["E025"]
    key_files.STORAGES = {**key_files.STORAGES, "evidence": key_files.STORAGES["default"]}
    assert conf.configuration_problems() == []
    key_files.DEBUG = False
    assert [p.id for p in conf.configuration_problems()] == ["W001"]  # the sandbox's loopback URL


# -- the default account as one value ------------------------------------------------------------


def test_the_default_account_is_one_immutable_value(key_files, wxpay_sandbox):
    account = conf.get_account()
    assert account is conf.get_account()
    assert (account.name, account.setting) == (conf.DEFAULT_ACCOUNT, "WXPAY_MEDIA")
    assert account.mchid == wxpay_sandbox.mchid
    assert account.base_url == wxpay_sandbox.base_url
    assert (account.timeout, account.max_retries, account.retry_backoff) == (10.0, 3, 0.5)
    assert account.verification == "public_key" and account.public_key_id
    with pytest.raises(dataclasses.FrozenInstanceError):
        account.mchid = "1900000002"  # type: ignore[misc]
    client = conf.get_client()
    assert (client.signer.mchid, client.base_url, client.timeout) == (account.mchid, account.base_url, account.timeout)
    assert "PRIVATE" not in repr(account) and "BEGIN" not in repr(account)
    with override_settings(WXPAY_MEDIA={**key_files.WXPAY_MEDIA, "MCHID": 1900000009}):
        assert conf.get_account() is not account
        assert conf.get_account().mchid == "1900000009"
    with pytest.raises(
        ImproperlyConfigured, match="'shop2' is not a merchant account of WXPAY_MEDIA; the accounts are 'default'"
    ):
        conf.get_account("shop2")


def test_an_account_in_platform_certificate_mode(key_files):
    options = {k: v for k, v in key_files.WXPAY_MEDIA.items() if not k.startswith("WECHATPAY_PUBLIC_KEY")}
    key_files.WXPAY_MEDIA = {**options, "APIV3_KEY": "0123456789abcdef0123456789ABCDEF"}
    account = conf.get_account()
    assert account.verification == "platform_certificates" and account.public_key_id is None
    assert "0123456789abcdef" not in repr(account)


def test_account_rules_name_the_setting_they_judge(key_files):
    """Another account's dict is judged by the same rules, its messages naming where it is configured."""
    where = "WXPAY_MEDIA['ACCOUNTS']['shop2']"
    options = {k: v for k, v in key_files.WXPAY_MEDIA.items() if k != "MCHID"}
    problems, keys = conf.judge_account(options, where)
    assert [p.id for p in problems] == ["E004"]
    assert problems[0].message == f"{where}['MCHID'] is missing."
    assert keys is not None and keys.private_key is not None
    problems, _ = conf.judge_account(key_files.WXPAY_MEDIA, where)
    assert problems == []
