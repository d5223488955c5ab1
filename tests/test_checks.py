"""checks.py: each system check fires on the setting it names, and a good config is quiet."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from django_wxpay_media.checks import (
    TAG,
    check_deployment,
    check_settings,
    is_loopback_url,
)

APIV3_KEY = "0123456789abcdef0123456789ABCDEF"


def _private_pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture(scope="module")
def keys():
    """Throwaway keys: the merchant's RSA-2048, a too-small RSA, an EC key, WeChat's public key."""
    merchant = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    wechat = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "merchant": _private_pem(merchant),
        "rsa1024": _private_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
        "ec": _private_pem(ec.generate_private_key(ec.SECP256R1())),
        "public": wechat.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
        "ec_public": ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
    }


def good_settings(keys) -> dict:
    """A complete, valid WXPAY_MEDIA (public key mode) with ``keys["merchant"]`` and ``keys["public"]``."""
    return {
        "MCHID": "1900000001",
        "MERCHANT_SERIAL_NO": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        "PRIVATE_KEY": keys["merchant"],
        "WECHATPAY_PUBLIC_KEY": keys["public"],
        "WECHATPAY_PUBLIC_KEY_ID": "PUB_KEY_ID_0119000000012025010100000000000001",
    }


@pytest.fixture
def good(keys):
    return good_settings(keys)


def every_check():
    """What ``check --deploy`` reports: the default checks and the deploy-only ones."""
    return check_settings(None) + check_deployment(None)


def ids(settings, options) -> list[str]:
    settings.WXPAY_MEDIA = options
    return [message.id for message in every_check()]


#: Absent or partly filled-in configuration: reported by ``check --deploy`` only.
MISSING = {"E001", "E004", "E005", "E006", "E008", "E011", "E012", "E014", "E016"}


def without(options, *keys):
    return {k: v for k, v in options.items() if k not in keys}


def test_good_config_is_quiet(settings, good, keys, tmp_path):
    assert ids(settings, good) == []
    # Certificate mode, key files, every option set to a sensible value: still quiet.
    (tmp_path / "key.pem").write_text(keys["merchant"])
    certificate_mode = {
        **without(good, "PRIVATE_KEY", "WECHATPAY_PUBLIC_KEY", "WECHATPAY_PUBLIC_KEY_ID"),
        "PRIVATE_KEY_PATH": str(tmp_path / "key.pem"),
        "APIV3_KEY": APIV3_KEY,
        "API_BASE_URL": "https://api2.mch.weixin.qq.com",
        "TIMEOUT": 5.5,
        "MAX_RETRIES": 0,
        "RETRY_BACKOFF": 0,
        "CONCURRENCY": 1,
        "MAX_FILES": 4,
        "UPLOAD_TO": "evidence/",
        "STORAGE": "default",
    }
    assert ids(settings, certificate_mode) == []


def test_registered_with_the_tag(settings, good):
    settings.WXPAY_MEDIA = {**good, "MCHID": "", "TIMEOUT": 0}
    found = [m.id for m in checks.run_checks(tags=[TAG])]
    assert "django_wxpay_media.E019" in found and "django_wxpay_media.E004" not in found
    found = [m.id for m in checks.run_checks(tags=[TAG], include_deployment_checks=True)]
    assert {"django_wxpay_media.E019", "django_wxpay_media.E004"} <= set(found)
    assert checks.registry.registry.tag_exists(TAG)
    assert checks.registry.registry.tag_exists(TAG, include_deployment_checks=True)


def test_manage_py_check_reports_and_fails(settings, good):
    settings.WXPAY_MEDIA = {**good, "TIMEOUT": "10"}
    with pytest.raises(SystemCheckError, match=r"django_wxpay_media\.E019"):
        call_command("check", "--tag", TAG)
    settings.WXPAY_MEDIA = without(good, "MERCHANT_SERIAL_NO")
    call_command("check", "--tag", TAG)  # missing, not wrong: only the deploy checks say so
    with pytest.raises(SystemCheckError, match=r"django_wxpay_media\.E005"):
        call_command("check", "--deploy", "--tag", TAG)
    settings.WXPAY_MEDIA = good
    call_command("check", "--deploy", "--tag", TAG)  # no error


def test_missing_setting(settings):
    del settings.WXPAY_MEDIA
    assert check_settings(None) == []
    [message] = check_deployment(None)
    assert message.id == "django_wxpay_media.E001"
    assert isinstance(message, checks.Error)
    assert "WXPAY_MEDIA" in message.hint


def test_not_a_dict(settings):
    assert ids(settings, "MCHID=1") == ["django_wxpay_media.E002"]


def test_unknown_keys_each_reported(settings, good):
    found = ids(settings, {**good, "TIMEOUTS": 1, "APIV3KEY": "x"})
    assert found == ["django_wxpay_media.E003", "django_wxpay_media.E003"]
    settings.WXPAY_MEDIA = {**good, "TIMEOUTS": 1}
    [message] = every_check()
    assert "'TIMEOUTS'" in message.msg and "Did you mean 'TIMEOUT'?" in message.msg
    assert "WXPAY_MEDIA['TIMEOUTS']" in message.hint


@pytest.mark.parametrize(
    ("change", "expected", "setting"),
    [
        (lambda o, k, p: without(o, "MCHID"), "E004", "MCHID"),
        (lambda o, k, p: {**o, "MCHID": ""}, "E004", "MCHID"),
        (lambda o, k, p: without(o, "MERCHANT_SERIAL_NO"), "E005", "MERCHANT_SERIAL_NO"),
        (lambda o, k, p: without(o, "PRIVATE_KEY"), "E006", "PRIVATE_KEY_PATH"),
        (lambda o, k, p: {**o, "PRIVATE_KEY_PATH": p / "key.pem"}, "E007", "PRIVATE_KEY_PATH"),
        (
            lambda o, k, p: {**without(o, "PRIVATE_KEY"), "PRIVATE_KEY_PATH": str(p / "missing.pem")},
            "E008",
            "PRIVATE_KEY_PATH",
        ),
        (lambda o, k, p: {**without(o, "PRIVATE_KEY"), "PRIVATE_KEY_PATH": str(p)}, "E008", "PRIVATE_KEY_PATH"),
        (lambda o, k, p: {**o, "PRIVATE_KEY": "not a key"}, "E009", "PRIVATE_KEY"),
        (lambda o, k, p: {**o, "PRIVATE_KEY": k["public"]}, "E009", "PRIVATE_KEY"),
        (lambda o, k, p: {**o, "PRIVATE_KEY": k["rsa1024"]}, "E010", "PRIVATE_KEY"),
        (lambda o, k, p: {**o, "PRIVATE_KEY": k["ec"]}, "E010", "PRIVATE_KEY"),
        (
            lambda o, k, p: {**without(o, "WECHATPAY_PUBLIC_KEY_ID"), "APIV3_KEY": APIV3_KEY},
            "E011",
            "WECHATPAY_PUBLIC_KEY_ID",
        ),
        (
            lambda o, k, p: {**without(o, "WECHATPAY_PUBLIC_KEY"), "APIV3_KEY": APIV3_KEY},
            "E012",
            "WECHATPAY_PUBLIC_KEY_PATH",
        ),
        (lambda o, k, p: {**o, "WECHATPAY_PUBLIC_KEY_PATH": "/x/pub_key.pem"}, "E013", "WECHATPAY_PUBLIC_KEY_PATH"),
        (
            lambda o, k, p: {**without(o, "WECHATPAY_PUBLIC_KEY"), "WECHATPAY_PUBLIC_KEY_PATH": str(p / "nope.pem")},
            "E014",
            "WECHATPAY_PUBLIC_KEY_PATH",
        ),
        (lambda o, k, p: {**o, "WECHATPAY_PUBLIC_KEY": "garbage"}, "E015", "WECHATPAY_PUBLIC_KEY"),
        (lambda o, k, p: {**o, "WECHATPAY_PUBLIC_KEY": k["ec_public"]}, "E015", "WECHATPAY_PUBLIC_KEY"),
        (lambda o, k, p: without(o, "WECHATPAY_PUBLIC_KEY", "WECHATPAY_PUBLIC_KEY_ID"), "E016", "APIV3_KEY"),
        (lambda o, k, p: {**o, "APIV3_KEY": "too short"}, "E017", "APIV3_KEY"),
        (lambda o, k, p: {**o, "APIV3_KEY": "密钥" * 16}, "E017", "APIV3_KEY"),  # 32 characters, 96 bytes
        (lambda o, k, p: {**o, "API_BASE_URL": "http://api.mch.weixin.qq.com"}, "E018", "API_BASE_URL"),
        (lambda o, k, p: {**o, "API_BASE_URL": "http://10.0.0.5:8000"}, "E018", "API_BASE_URL"),
        (lambda o, k, p: {**o, "API_BASE_URL": "ftp://127.0.0.1"}, "E018", "API_BASE_URL"),
        (lambda o, k, p: {**o, "API_BASE_URL": "api.mch.weixin.qq.com"}, "E018", "API_BASE_URL"),
        (lambda o, k, p: {**o, "TIMEOUT": "10"}, "E019", "TIMEOUT"),
        (lambda o, k, p: {**o, "TIMEOUT": 0}, "E019", "TIMEOUT"),
        (lambda o, k, p: {**o, "TIMEOUT": float("inf")}, "E019", "TIMEOUT"),
        (lambda o, k, p: {**o, "MAX_RETRIES": -1}, "E020", "MAX_RETRIES"),
        (lambda o, k, p: {**o, "MAX_RETRIES": "3"}, "E020", "MAX_RETRIES"),
        (lambda o, k, p: {**o, "RETRY_BACKOFF": -1}, "E021", "RETRY_BACKOFF"),
        (lambda o, k, p: {**o, "CONCURRENCY": 0}, "E022", "CONCURRENCY"),
        (lambda o, k, p: {**o, "CONCURRENCY": 2.0}, "E022", "CONCURRENCY"),
        (lambda o, k, p: {**o, "MAX_FILES": 0}, "E023", "MAX_FILES"),
        (lambda o, k, p: {**o, "UPLOAD_TO": 5}, "E024", "UPLOAD_TO"),
        (lambda o, k, p: {**o, "STORAGE": "nowhere"}, "E025", "STORAGE"),
        (lambda o, k, p: {**o, "MERCHANT_SERIAL_NO": 1234}, "E026", "MERCHANT_SERIAL_NO"),
        (lambda o, k, p: {**o, "PRIVATE_KEY": ["-----BEGIN"]}, "E026", "PRIVATE_KEY"),
    ],
)
def test_each_check_fires_on_its_setting(settings, good, keys, tmp_path, change, expected, setting):
    (tmp_path / "key.pem").write_text(keys["merchant"])
    settings.WXPAY_MEDIA = change(good, keys, tmp_path)
    found = every_check()
    matching = [m for m in found if m.id == f"django_wxpay_media.{expected}"]
    assert matching, [m.id for m in found]
    # Absent configuration waits for --deploy; a wrong value stops every command.
    registration = check_deployment if expected in MISSING else check_settings
    assert matching == [m for m in registration(None) if m.id == f"django_wxpay_media.{expected}"]
    assert all(isinstance(m, checks.Error) for m in matching)
    assert any(f"WXPAY_MEDIA['{setting}']" in m.hint for m in matching), [m.hint for m in matching]


def test_loopback_http_is_allowed(settings, good):
    for url in ("http://127.0.0.1:8765", "http://localhost:8000", "http://[::1]:9000", "https://127.0.0.1"):
        settings.DEBUG = True
        assert ids(settings, {**good, "API_BASE_URL": url}) == [], url


def test_sandbox_url_warns_when_debug_is_off(settings, good):
    settings.DEBUG = False
    found = ids(settings, {**good, "API_BASE_URL": "http://127.0.0.1:8765"})
    assert found == ["django_wxpay_media.W001"]
    settings.DEBUG = True
    assert ids(settings, {**good, "API_BASE_URL": "http://127.0.0.1:8765"}) == []


def test_more_files_than_a_reply_takes_warns(settings, good):
    settings.WXPAY_MEDIA = {**good, "MAX_FILES": 5}
    [message] = every_check()
    assert message.id == "django_wxpay_media.W002"
    assert isinstance(message, checks.Warning)
    assert "WXPAY_MEDIA['MAX_FILES']" in message.hint


def test_is_loopback_url():
    assert is_loopback_url("http://127.0.0.2:1")
    assert not is_loopback_url("http://127.example.com")
    assert not is_loopback_url("http://")


def test_no_key_material_in_any_message(settings, good, keys):
    secret_body = "".join(keys["merchant"].strip().splitlines()[1:-1])
    bad_private = keys["merchant"].replace("PRIVATE KEY", "PRIVAT KEY")  # still looks like a key
    settings.WXPAY_MEDIA = {
        **good,
        "PRIVATE_KEY": bad_private,
        "APIV3_KEY": APIV3_KEY + "x",
        "WECHATPAY_PUBLIC_KEY_ID": "",
    }
    found = every_check()
    assert {"django_wxpay_media.E009", "django_wxpay_media.E011", "django_wxpay_media.E017"} <= {m.id for m in found}
    for message in found:
        text = f"{message.msg} {message.hint}"
        assert secret_body[:32] not in text
        assert secret_body[-32:] not in text
        assert APIV3_KEY not in text
        assert "BEGIN" not in text
