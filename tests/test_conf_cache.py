"""WXPAY_MEDIA is read, merged and judged once per change, not on every get_setting() (issue 15)."""

from __future__ import annotations

from pathlib import Path

import pytest
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
