"""``manage.py wxpay_media doctor`` against the sandbox, with each kind of mismatch.

The sandbox is WeChat Pay: it refuses what WeChat Pay refuses and signs its answers
with its own keys; a mismatch is made by giving the site other keys than the
sandbox's (a second set of throwaway keys).
"""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from django_wxpay_media.sandbox import SandboxKeys

OK = "All agree: uploads and the complaint desk can talk to WeChat Pay."
AGREED = "MCHID, MERCHANT_SERIAL_NO and the private key agree: WeChat Pay accepted the signed request."


@pytest.fixture(scope="module")
def other_keys() -> SandboxKeys:
    """Keys of another merchant (and another WeChat Pay): what a wrong file in settings looks like."""
    return SandboxKeys.generate()


def doctor() -> tuple[list[str], bool]:
    """Run the command; returns its lines and whether it exited with 0."""
    out = io.StringIO()
    try:
        call_command("wxpay_media", "doctor", stdout=out, skip_checks=True)
    except CommandError as exc:
        assert str(exc) == translation.gettext("The settings and WeChat Pay do not agree yet; see above.")
        return out.getvalue().splitlines(), False
    return out.getvalue().splitlines(), True


def uploads_and_writes(sandbox) -> list[str]:
    return [f"{r.method} {r.path}" for r in sandbox.requests if r.method != "GET"]


def test_all_agree_in_public_key_mode(wxpay_settings):
    lines, ok = doctor()

    assert ok
    assert lines[0].startswith(f"Asking WeChat Pay at {wxpay_settings.base_url} as merchant {wxpay_settings.mchid}")
    assert AGREED in lines and lines[-1] == OK
    assert f"the WeChat Pay public key {wxpay_settings.keys.wechatpay_public_key_id}" in lines[-2]
    assert len(wxpay_settings.requests) == 1 and uploads_and_writes(wxpay_settings) == []  # one harmless read


def test_all_agree_in_certificate_mode(wxpay_sandbox_factory, settings):
    sandbox = wxpay_sandbox_factory(mode="certificate")
    settings.WXPAY_MEDIA = sandbox.settings()

    lines, ok = doctor()

    assert ok and lines[-1] == OK
    assert "platform certificates" in lines[-2]
    assert [r.path for r in sandbox.requests] == ["/v3/certificates"]


def test_a_wrong_mchid(wxpay_settings, settings):
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "MCHID": "1900000999"}

    lines, ok = doctor()

    assert not ok and AGREED not in lines
    assert "the merchant number 1900000999 does not match the certificate. Check MCHID" in lines[-1]


def test_a_wrong_serial(wxpay_settings, settings):
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "MERCHANT_SERIAL_NO": "1234567890ABCDEF1234567890ABCDEF12345678"}

    lines, ok = doctor()

    assert not ok
    assert "does not know the certificate serial 1234567890ABCDEF1234567890ABCDEF12345678" in lines[-1]
    assert "Check MERCHANT_SERIAL_NO" in lines[-1]


def test_a_private_key_of_another_certificate(wxpay_settings, settings, other_keys):
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "PRIVATE_KEY": other_keys.merchant_private_key_pem}

    lines, ok = doctor()

    assert not ok and AGREED not in lines
    assert "refused the request's signature (SIGN_ERROR): the private key does not belong" in lines[-1]


def test_a_wechatpay_public_key_that_is_not_wechatpays(wxpay_settings, settings, other_keys):
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "WECHATPAY_PUBLIC_KEY": other_keys.wechatpay_public_key_pem}

    lines, ok = doctor()

    assert not ok and AGREED in lines
    assert "does not verify with the configured key: WECHATPAY_PUBLIC_KEY is not the public key" in lines[-1]


def test_an_unknown_wechatpay_public_key_id(wxpay_settings, settings, other_keys):
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "WECHATPAY_PUBLIC_KEY_ID": other_keys.wechatpay_public_key_id}

    lines, ok = doctor()

    assert not ok and AGREED in lines
    assert "signed its answer with a key this site does not know. Check WECHATPAY_PUBLIC_KEY_ID" in lines[-1]


def test_a_wrong_apiv3_key_in_certificate_mode(wxpay_sandbox_factory, settings, other_keys):
    sandbox = wxpay_sandbox_factory(mode="certificate")
    settings.WXPAY_MEDIA = {**sandbox.settings(), "APIV3_KEY": other_keys.apiv3_key}

    lines, ok = doctor()

    assert not ok and AGREED in lines
    assert lines[-1].startswith("APIV3_KEY is wrong:")


def test_wechat_pay_out_of_reach(wxpay_sandbox_factory, settings):
    sandbox = wxpay_sandbox_factory()
    settings.WXPAY_MEDIA = {**sandbox.settings(), "MAX_RETRIES": 0}
    sandbox.stop()

    lines, ok = doctor()

    assert not ok and lines[-1].startswith("WeChat Pay could not be reached:")
    assert lines[-1].endswith("Check API_BASE_URL and outbound HTTPS.")


def test_the_verdict_is_translated(wxpay_settings, settings):
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "MCHID": "1900000999"}
    with translation.override("zh-hans"):
        lines, ok = doctor()
    assert not ok and "商户号" in lines[-1] and "MCHID" in lines[-1]


def test_doctor_checks_the_account_named(wxpay_sandbox_factory, settings):
    first = wxpay_sandbox_factory()
    second = wxpay_sandbox_factory(mchid="1900000002")
    settings.WXPAY_MEDIA = {**first.settings(), "ACCOUNTS": {"shop2": second.settings()}}
    out = io.StringIO()
    call_command("wxpay_media", "doctor", "--account", "shop2", stdout=out, skip_checks=True)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"Asking WeChat Pay at {second.base_url} as merchant 1900000002")
    assert lines[-1] == OK and len(second.requests) == 1 and first.requests == []
