"""Key material never reaches Django's error reports (issue 8, item 1).

For each configuration failure raised while the client is built, Django's
``ExceptionReporter`` renders the report a crashed request produces (the HTML
debug page, the text of an admin error e-mail) with DEBUG off and on; neither may
contain a line of the private key, the public key or the APIv3 key, from settings
text or from a key file. The same holds for every frame that uses key material
later: building the client, the certificate refresh and decryption, notification
decryption, the payer's phone (issue 14).
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory
from django.views.debug import ExceptionReporter

from django_wxpay_media import conf, services

from .helpers import throwaway_keys
from .images import png_bytes
from .test_checks import good_settings

SECRET_KEYS = ("PRIVATE_KEY", "WECHATPAY_PUBLIC_KEY", "APIV3_KEY")
KEY_FILES = ("PRIVATE_KEY_PATH", "WECHATPAY_PUBLIC_KEY_PATH")


@pytest.fixture(scope="module")
def keys():
    """Throwaway keys, made for this module: nothing here is a real secret."""
    return throwaway_keys()


def _good(keys) -> dict:
    return {
        **good_settings(keys),
        "APIV3_KEY": keys["apiv3"],
        "API_BASE_URL": "http://127.0.0.1:9",  # never reached: every case fails before a request
    }


def _without(options: dict, *names: str) -> dict:
    return {k: v for k, v in options.items() if k not in names}


def _file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _cut(pem: str) -> str:
    """A key with lines taken out of its middle: unparseable, full of real key text."""
    lines = pem.strip().splitlines()
    return "\n".join(lines[:6] + lines[9:]) + "\n"


#: (name, the failing WXPAY_MEDIA, the check id the failure carries)
CASES: list[tuple[str, Callable[[dict, Path], dict], str]] = [
    ("public key without its id", lambda k, p: _without(_good(k), "WECHATPAY_PUBLIC_KEY_ID"), "E011"),
    ("short APIv3 key", lambda k, p: {**_good(k), "APIV3_KEY": k["apiv3"][:31]}, "E017"),
    ("APIv3 key of 32 characters, 96 bytes", lambda k, p: {**_good(k), "APIV3_KEY": "密钥" * 16}, "E017"),
    (
        "unreadable public key file",
        lambda k, p: {
            **_without(_good(k), "WECHATPAY_PUBLIC_KEY"),
            "WECHATPAY_PUBLIC_KEY_PATH": str(p / "missing" / "pub_key.pem"),
        },
        "E014",
    ),
    (
        "unreadable private key file",
        lambda k, p: {**_without(_good(k), "PRIVATE_KEY"), "PRIVATE_KEY_PATH": str(p)},  # a directory
        "E008",
    ),
    ("bad private key", lambda k, p: {**_good(k), "PRIVATE_KEY": _cut(k["merchant"])}, "E009"),
    (
        "bad private key file",
        lambda k, p: {
            **_without(_good(k), "PRIVATE_KEY"),
            "PRIVATE_KEY_PATH": _file(p, "key.pem", _cut(k["merchant"])),
        },
        "E009",
    ),
    ("private key given as bytes", lambda k, p: {**_good(k), "PRIVATE_KEY": _cut(k["merchant"]).encode()}, "E009"),
    ("RSA-1024 private key", lambda k, p: {**_good(k), "PRIVATE_KEY": k["rsa1024"]}, "E010"),
    (
        "private key as text and path",
        lambda k, p: {**_good(k), "PRIVATE_KEY_PATH": _file(p, "key.pem", k["merchant"])},
        "E007",
    ),
    (
        "public key as text and path",
        lambda k, p: {**_good(k), "WECHATPAY_PUBLIC_KEY_PATH": _file(p, "pub.pem", k["public"])},
        "E013",
    ),
    ("public key not RSA", lambda k, p: {**_good(k), "WECHATPAY_PUBLIC_KEY": k["ec_public"]}, "E015"),
    ("private key where the public key goes", lambda k, p: {**_good(k), "WECHATPAY_PUBLIC_KEY": k["merchant"]}, "E015"),
    ("merchant number missing", lambda k, p: _without(_good(k), "MCHID"), "E004"),
    ("base URL not https", lambda k, p: {**_good(k), "API_BASE_URL": "http://api.example.com"}, "E018"),
    ("unknown key", lambda k, p: {**_good(k), "TIMEOUTS": 5}, "E003"),
    ("option of the wrong type", lambda k, p: {**_good(k), "TIMEOUT": "10"}, "E019"),
]


def _secret_fragments(options: dict) -> list[str]:
    """What must never show: every base64 line of each key (from text or file) and the APIv3 key.

    Each 64-character line is also checked by halves, so a value wrapped across
    lines of the report is still caught.
    """
    texts = []
    for name in SECRET_KEYS:
        value = options.get(name)
        if isinstance(value, bytes):
            value = value.decode()
        if value:
            texts.append(value)
    for name in KEY_FILES:
        path = options.get(name)
        if path and Path(path).is_file():
            texts.append(Path(path).read_text())
    fragments = []
    for text in texts:
        if "-----BEGIN" not in text:  # the APIv3 key
            fragments.append(text)
            continue
        for line in text.splitlines():
            if line and not line.startswith("-----"):
                fragments.extend({line, line[:32], line[32:]} - {""})
    return fragments


def _report(call: Callable[[], object]) -> tuple[ImproperlyConfigured, str, str]:
    """The HTML and text reports Django makes for the error ``call()`` raises in a request.

    This frame and ``call`` hold no key material, like a view's.
    """
    request = RequestFactory().post("/admin/django_wxpay_media/feedbackimage/add/")
    try:
        call()
    except ImproperlyConfigured:
        exc_type, exc, tb = sys.exc_info()
        reporter = ExceptionReporter(request, exc_type, exc, tb)
        assert isinstance(exc, ImproperlyConfigured)
        return exc, reporter.get_traceback_html(), reporter.get_traceback_text()
    raise AssertionError("the configuration was accepted")


@pytest.mark.parametrize("debug", [False, True], ids=["DEBUG off", "DEBUG on"])
@pytest.mark.parametrize(("case", "make", "check_id"), CASES, ids=[c[0] for c in CASES])
def test_no_key_in_the_report_of_a_configuration_error(settings, keys, tmp_path, debug, case, make, check_id):
    settings.DEBUG = debug
    options = make(keys, tmp_path)
    fragments = _secret_fragments(options)
    assert fragments, "the case configures key material to look for"
    settings.WXPAY_MEDIA = options
    conf.reset_client()
    exc, html, text = _report(conf.get_client)
    assert f"django_wxpay_media.{check_id}" in str(exc)
    # The report is a real one: it shows the error and the frames it came through.
    for report in (html, text):
        assert "ImproperlyConfigured" in report or "ConfigurationProblem" in report
        assert "django_wxpay_media/conf/" in report
        leaked = sum(fragment in report for fragment in fragments)  # a count: never print the keys
        assert leaked == 0, f"{case}: key material in the {'HTML' if report is html else 'text'} report"


@pytest.mark.parametrize("debug", [False, True], ids=["DEBUG off", "DEBUG on"])
@pytest.mark.parametrize(
    ("change", "check_id"), [({"TIMEOUTS": 5}, "E003"), ({"MAX_FILES": "4"}, "E023")], ids=["unknown key", "bad option"]
)
def test_no_key_in_the_report_of_reading_one_option(settings, keys, debug, change, check_id):
    """Reading any option (storage, upload_to, timeouts) validates the whole setting, keys and all."""
    settings.DEBUG = debug
    settings.WXPAY_MEDIA = {**_good(keys), **change}
    fragments = _secret_fragments(settings.WXPAY_MEDIA)
    exc, html, text = _report(lambda: conf.get_setting("MAX_FILES"))
    assert f"django_wxpay_media.{check_id}" in str(exc)
    for report in (html, text):
        assert "get_settings" in report
        assert sum(fragment in report for fragment in fragments) == 0


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True], ids=["DEBUG off", "DEBUG on"])
def test_no_key_in_the_report_of_a_failed_first_upload(settings, keys, tmp_path, debug):
    """The same through the service an admin view calls: the upload's frames hold no key either."""
    settings.DEBUG = debug
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.WXPAY_MEDIA = {
        **_without(_good(keys), "PRIVATE_KEY"),
        "PRIVATE_KEY_PATH": _file(tmp_path, "key.pem", keys["rsa1024"]),
        "APIV3_KEY": keys["apiv3"][:20],
    }
    fragments = _secret_fragments(settings.WXPAY_MEDIA)
    conf.reset_client()
    exc, html, text = _report(lambda: services.upload_image(png_bytes(7), filename="evidence.png"))
    assert "django_wxpay_media.E010" in str(exc)
    for report in (html, text):
        assert "services/api.py" in report
        assert sum(fragment in report for fragment in fragments) == 0


def test_secret_hides_itself():
    from django_wxpay_media.wechatpay.keys import Secret

    secret = Secret("0123456789abcdef0123456789ABCDEF")
    assert "0123" not in repr(secret) and "0123" not in str(secret) and "0123" not in f"{secret!r} {secret}"
    assert secret.reveal() == "0123456789abcdef0123456789ABCDEF"
    assert secret and not Secret("")
    with pytest.raises(TypeError):
        __import__("pickle").dumps(secret)


# -- the APIv3 key and the private key in the frames that use them (issue 14, item 4) -----------------


def _report_of(call: Callable[[], object], catch: type[BaseException]) -> tuple[str, str]:
    """The HTML and text reports of the error ``call()`` raises, as a crashed request would make them."""
    request = RequestFactory().post("/wxpay/complaints/notify/")
    try:
        call()
    except catch:
        exc_type, exc, tb = sys.exc_info()
        reporter = ExceptionReporter(request, exc_type, exc, tb)
        return reporter.get_traceback_html(), reporter.get_traceback_text()
    raise AssertionError("nothing was raised")


def _leaks(report: str, options: dict) -> int:
    """How many fragments of the configured keys the report shows (a count: never print the keys)."""
    text = {name: value.reveal() if hasattr(value, "reveal") else value for name, value in options.items()}
    return sum(fragment in report for fragment in _secret_fragments(text))


def _frames(report: str, *names: str) -> bool:
    return all(name in report for name in names)


@pytest.mark.parametrize("debug", [False, True], ids=["DEBUG off", "DEBUG on"])
def test_no_apiv3_key_in_the_report_of_a_client_that_cannot_be_built(settings, wxpay_sandbox, debug):
    """The Django layer hands the key over in its Secret; the client's and key store's frames keep it there."""
    from django_wxpay_media.wechatpay import WeChatPayClient, errors
    from django_wxpay_media.wechatpay.keys import Secret, load_private_key

    settings.DEBUG = debug
    options = wxpay_sandbox.settings()
    # What the build frame holds is what the Django layer hands over: key objects and Secrets.
    mchid, serial = options["MCHID"], options["MERCHANT_SERIAL_NO"]
    private_key = load_private_key(Secret(options["PRIVATE_KEY"]))
    apiv3_key = Secret(options["APIV3_KEY"])

    def build():
        return WeChatPayClient(
            mchid=mchid,
            merchant_serial_no=serial,
            private_key=private_key,
            apiv3_key=apiv3_key,
            base_url="ftp://api.example.com",  # refused after the key store was built
        )

    for report in _report_of(build, errors.ConfigurationError):
        assert _frames(report, "__init__", "check_base_url")
        assert _leaks(report, options) == 0


@pytest.mark.parametrize("debug", [False, True], ids=["DEBUG off", "DEBUG on"])
def test_no_apiv3_key_in_the_report_of_a_certificate_refresh(settings, wxpay_sandbox_factory, debug):
    """Certificate mode, a wrong APIv3 key: the refresh and decryption frames fail and show no key."""
    from django_wxpay_media.wechatpay import errors

    settings.DEBUG = debug
    sandbox = wxpay_sandbox_factory(mode="certificate")
    settings.WXPAY_MEDIA = {**sandbox.settings(), "APIV3_KEY": secrets.token_hex(16)}  # 32 bytes, not the sandbox's
    client = conf.get_client()
    for report in _report_of(lambda: client.keys.refresh_certificates(force=True), errors.ConfigurationError):
        assert _frames(report, "refresh_certificates", "_decrypt_certificates")
        assert _leaks(report, settings.WXPAY_MEDIA) == 0


@pytest.mark.parametrize("debug", [False, True], ids=["DEBUG off", "DEBUG on"])
def test_no_apiv3_key_in_the_report_of_a_notification_from_an_unknown_certificate(
    settings, wxpay_sandbox_factory, debug
):
    """The notification path in certificate mode: an unknown serial makes verification download certificates."""
    from django_wxpay_media.wechatpay import complaints as wc
    from django_wxpay_media.wechatpay import errors

    settings.DEBUG = debug
    sandbox = wxpay_sandbox_factory(mode="certificate")
    settings.WXPAY_MEDIA = {**sandbox.settings(), "APIV3_KEY": secrets.token_hex(16)}
    headers, body = sandbox.notification("2002")
    client = conf.get_client()

    def parse():
        return wc.parse_notification(client.keys, client.keys.apiv3_key, headers, body)

    for report in _report_of(parse, errors.ConfigurationError):
        assert _frames(report, "parse_notification", "verify", "refresh_certificates", "_decrypt_certificates")
        assert _leaks(report, settings.WXPAY_MEDIA) == 0


@pytest.mark.parametrize("debug", [False, True], ids=["DEBUG off", "DEBUG on"])
def test_no_apiv3_key_in_the_report_of_a_notification_that_does_not_decrypt(settings, wxpay_sandbox, debug):
    from django_wxpay_media.wechatpay import complaints as wc

    settings.DEBUG = debug
    settings.WXPAY_MEDIA = {**wxpay_sandbox.settings(), "APIV3_KEY": secrets.token_hex(16)}
    headers, body = wxpay_sandbox.notification("2002")  # encrypted under the sandbox's key, not this one
    client = conf.get_client()

    def parse():
        return wc.parse_notification(client.keys, client.keys.apiv3_key, headers, body)

    for report in _report_of(parse, wc.NotificationError):
        assert _frames(report, "parse_notification", "decrypt_resource")
        assert _leaks(report, settings.WXPAY_MEDIA) == 0


@pytest.mark.parametrize("debug", [False, True], ids=["DEBUG off", "DEBUG on"])
def test_no_private_key_in_the_report_of_a_payer_phone_that_does_not_decrypt(settings, wxpay_sandbox, debug):
    from django_wxpay_media.wechatpay import complaints as wc
    from django_wxpay_media.wechatpay import errors

    settings.DEBUG = debug
    settings.WXPAY_MEDIA = wxpay_sandbox.settings()
    client = conf.get_client()
    garbage = "QUJD" * 86  # base64, but not RSA-OAEP under the merchant key
    for report in _report_of(lambda: wc.decrypt_payer_phone(client.signer.private_key, garbage), errors.WeChatPayError):
        assert _frames(report, "decrypt_payer_phone")
        assert _leaks(report, settings.WXPAY_MEDIA) == 0
