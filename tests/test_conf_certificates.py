"""PLATFORM_CERTIFICATES: with a WeChat Pay public key the client downloads no platform certificate unless asked."""

from __future__ import annotations

import base64
import time

import pytest
from django.core import checks

from django_wxpay_media import conf
from django_wxpay_media.wechatpay import errors
from tests.images import png_bytes


def _unsigned(serial: str) -> dict[str, str]:
    """Headers of an answer or notification: fresh, a well-formed serial this site does not know."""
    return {
        "Wechatpay-Timestamp": str(int(time.time())),
        "Wechatpay-Nonce": "nonce",
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature": base64.b64encode(b"x" * 256).decode(),
    }


def _ids() -> set[str]:
    """The package's check errors (W001, a sandbox while DEBUG is off, aside)."""
    return {
        m.id
        for m in checks.run_checks(include_deployment_checks=True)
        if m.id and m.id.startswith(conf.CHECK_TAG + ".E")
    }


def test_public_key_mode_downloads_no_certificate(wxpay_settings):
    """The APIv3 key is there for notifications only: an unknown serial fetches nothing."""
    sandbox = wxpay_settings
    client = conf.get_client()
    assert client.keys.apiv3_key is not None and not client.keys.uses_certificates
    with pytest.raises(errors.SignatureVerificationError):
        client.keys.verify(_unsigned("AB" * 20), b"{}")  # a notification's headers
    sandbox.add_fault("unknown_serial", serial="CD" * 20)  # an answer signed by an unknown certificate
    with pytest.raises(errors.SignatureVerificationError):
        client.upload_bytes(png_bytes(7), "a.png")
    assert sandbox.certificate_downloads == 0


def test_the_option_restores_the_download(wxpay_sandbox_factory, settings):
    """A site in WeChat Pay's key migration (public key and certificates) asks for certificates too."""
    sandbox = wxpay_sandbox_factory(mode="both")
    settings.WXPAY_MEDIA = sandbox.settings()
    with pytest.raises(errors.SignatureVerificationError):
        conf.get_client().keys.verify(_unsigned("AB" * 20), b"{}")
    assert sandbox.certificate_downloads == 0  # the default with a public key
    settings.WXPAY_MEDIA = {**sandbox.settings(), "PLATFORM_CERTIFICATES": True}
    client = conf.get_client()
    assert client.keys.uses_certificates
    with pytest.raises(errors.SignatureVerificationError):
        client.keys.verify(_unsigned("AB" * 20), b"{}")
    assert sandbox.certificate_downloads == 1


def test_certificate_mode_downloads_by_default(wxpay_sandbox_factory, settings):
    sandbox = wxpay_sandbox_factory(mode="certificate")
    settings.WXPAY_MEDIA = sandbox.settings()
    assert conf.get_client().upload_bytes(png_bytes(8), "b.png").media_id
    assert sandbox.certificate_downloads == 1


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [
        ("public_key", "yes", "django_wxpay_media.E033"),
        ("certificate", False, "django_wxpay_media.E034"),  # nothing left to verify answers with
    ],
)
def test_a_wrong_option_is_a_check_error(wxpay_sandbox_factory, settings, mode, value, expected):
    settings.WXPAY_MEDIA = {**wxpay_sandbox_factory(mode=mode).settings(), "PLATFORM_CERTIFICATES": value}
    assert expected in _ids()
    with pytest.raises(conf.ConfigurationProblem):
        conf.get_client()


def test_certificates_without_the_apiv3_key_is_a_check_error(wxpay_sandbox, settings):
    options = {k: v for k, v in wxpay_sandbox.settings().items() if k != "APIV3_KEY"}
    settings.WXPAY_MEDIA = {**options, "PLATFORM_CERTIFICATES": True}
    assert "django_wxpay_media.E034" in _ids()
    settings.WXPAY_MEDIA = {**options, "PLATFORM_CERTIFICATES": False}
    assert _ids() == set()
    assert not conf.get_client().keys.uses_certificates
