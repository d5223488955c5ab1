"""The client against the sandbox, over a real socket.

Each failure mode is a test that fails if its rule is removed from the client.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_wxpay_media.wechatpay import (
    BACKUP_BASE_URL,
    DEFAULT_BASE_URL,
    WeChatPayClient,
    errors,
    meta_json,
    prepare_image,
)
from tests.images import bmp_bytes, jpeg_bytes, png_bytes


class Sleeps(list):
    """Records backoff waits instead of sleeping them."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_client(sandbox, **overrides) -> WeChatPayClient:
    s = sandbox.settings()
    options = {
        "mchid": s["MCHID"],
        "merchant_serial_no": s["MERCHANT_SERIAL_NO"],
        "private_key": s["PRIVATE_KEY"],
        "public_key": s.get("WECHATPAY_PUBLIC_KEY"),
        "public_key_id": s.get("WECHATPAY_PUBLIC_KEY_ID"),
        "apiv3_key": s.get("APIV3_KEY"),
        "base_url": s["API_BASE_URL"],
        "max_retries": 2,
        "retry_backoff": 0.01,
        "timeout": 5,
    }
    options.update(overrides)
    return WeChatPayClient(**options)


@pytest.fixture
def sleeps():
    return Sleeps()


@pytest.fixture
def client(wxpay_sandbox, sleeps):
    with make_client(wxpay_sandbox, sleep=sleeps) as c:
        yield c


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- success ---------------------------------------------------------------------------


def test_upload_returns_the_sandbox_media_id(client, wxpay_sandbox):
    data = png_bytes(1)
    result = client.upload_bytes(data, "收据 2024.png")
    [upload] = wxpay_sandbox.uploads
    assert result.media_id == upload.media_id
    assert result.request_id and result.attempts == 1
    assert upload.data == data
    assert upload.filename == "收据 2024.png"
    # The meta part is byte for byte the signed text (the sandbox checked the signature over it).
    assert upload.meta_text == meta_json("收据 2024.png", upload.sha256)


@pytest.mark.parametrize(
    ("data", "name", "sent"),
    [
        (jpeg_bytes(2), "photo.jpeg", "photo.jpg"),
        (png_bytes(3), "x.jpg", "x.png"),
        (bmp_bytes(4), "扫描件", "扫描件.bmp"),
    ],
)
def test_names_are_normalised_to_what_wechat_accepts(client, wxpay_sandbox, data, name, sent):
    client.upload_bytes(data, name)
    assert wxpay_sandbox.uploads[-1].filename == sent


def test_quotes_in_a_name_survive_meta_json(client, wxpay_sandbox):
    prepared = prepare_image(png_bytes(5), "a.png")
    # Bypass normalisation to prove the encoder and multipart agree on any text.
    prepared = type(prepared)(
        data=prepared.data, filename="it's {a} & 100%.png", sha256=prepared.sha256, format=prepared.format
    )
    client.upload_image(prepared)
    assert json.loads(wxpay_sandbox.uploads[-1].meta_text)["filename"] == "it's {a} & 100%.png"


def test_request_headers(client, wxpay_sandbox):
    client.upload_bytes(png_bytes(6), "a.png")
    headers = {k.lower(): v for k, v in wxpay_sandbox.requests[-1].headers.items()}
    assert headers["accept"] == "application/json"
    assert headers["user-agent"].startswith("django-wxpay-media/")
    assert headers["wechatpay-serial"] == wxpay_sandbox.settings()["WECHATPAY_PUBLIC_KEY_ID"]
    assert headers["content-type"].startswith("multipart/form-data; boundary=")


def test_invalid_input_is_refused_before_any_request(client, wxpay_sandbox):
    for data in (b"", b"plain text named .jpg", b"\x89PNG\r\n\x1a\n" + b"\x00" * (2 * 1024 * 1024)):
        with pytest.raises(errors.ImageValidationError):
            client.upload_bytes(data, "evidence.jpg")
    assert wxpay_sandbox.requests == []


# -- verification of answers -----------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("forged_signature", "bad_signature"),
        ("wrong_key", "bad_signature"),
        ("probe_signature", "probe"),
        ("stale_timestamp", "stale_timestamp"),
        ("unknown_serial", "unknown_serial"),
        ("missing_headers", "missing_headers"),
    ],
)
def test_an_unverified_success_is_never_a_success(client, wxpay_sandbox, fault, reason):
    wxpay_sandbox.add_fault(fault)
    with pytest.raises(errors.SignatureVerificationError) as info:
        client.upload_bytes(png_bytes(7), "a.png")
    assert info.value.reason == reason
    assert info.value.request_id
    # Not retried: the upload may have been performed; a second one is not ours to send.
    assert len(wxpay_sandbox.requests) == 1


def test_stale_timestamp_in_the_future_is_rejected_too(client, wxpay_sandbox):
    wxpay_sandbox.add_fault("stale_timestamp", offset=301)
    with pytest.raises(errors.SignatureVerificationError):
        client.upload_bytes(png_bytes(8), "a.png")


# -- error answers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "PARAM_ERROR", errors.ParamError),
        (400, "INVALID_REQUEST", errors.InvalidRequestError),
        (401, "SIGN_ERROR", errors.SignError),
        (403, "NO_AUTH", errors.NoAuthError),
    ],
)
def test_documented_4xx_codes_are_told_apart_and_never_retried(client, wxpay_sandbox, status, code, cls):
    wxpay_sandbox.add_fault("status", status=status, code=code, message="说明")
    with pytest.raises(cls) as info:
        client.upload_bytes(png_bytes(9), "a.png")
    error = info.value
    assert (error.status, error.code, error.message) == (status, code, "说明")
    assert error.request_id and error.request_id == wxpay_sandbox.requests[0].request_id
    assert error.verified is False  # the sandbox sends error answers unsigned by default
    assert code in str(error) and "unverified" in str(error)
    assert len(wxpay_sandbox.requests) == 1


def test_a_signed_error_answer_is_marked_verified(client, wxpay_sandbox):
    wxpay_sandbox.add_fault("status", status=403, code="NO_AUTH", message="no", signed=True)
    with pytest.raises(errors.NoAuthError) as info:
        client.upload_bytes(png_bytes(10), "a.png")
    assert info.value.verified is True


def test_system_error_is_retried_with_backoff_then_succeeds(client, wxpay_sandbox, sleeps):
    wxpay_sandbox.add_fault("status", count=2, status=500, code="SYSTEM_ERROR")
    result = client.upload_bytes(png_bytes(11), "a.png")
    assert result.attempts == 3
    assert len(wxpay_sandbox.requests) == 3 and len(wxpay_sandbox.uploads) == 1
    # Exponential with jitter: 0.01 * 2**n * [0.5, 1.5)
    assert 0.005 <= sleeps[0] < 0.015 and 0.01 <= sleeps[1] < 0.03


def test_system_error_gives_up_after_max_retries(client, wxpay_sandbox):
    wxpay_sandbox.add_fault("status", count=3, status=500, code="SYSTEM_ERROR")
    with pytest.raises(errors.WeChatPaySystemError) as info:
        client.upload_bytes(png_bytes(12), "a.png")
    assert info.value.status == 500
    assert len(wxpay_sandbox.requests) == 3 and wxpay_sandbox.uploads == []


def test_frequency_limited_honours_retry_after(client, wxpay_sandbox, sleeps):
    wxpay_sandbox.add_fault("status", status=429, code="FREQUENCY_LIMITED", headers={"Retry-After": "3"})
    client.upload_bytes(png_bytes(13), "a.png")
    assert sleeps == [3.0]


def test_frequency_limited_is_its_own_error_when_it_persists(client, wxpay_sandbox):
    wxpay_sandbox.add_fault("status", count=3, status=429, code="FREQUENCY_LIMITED")
    with pytest.raises(errors.FrequencyLimitedError):
        client.upload_bytes(png_bytes(14), "a.png")
    assert len(wxpay_sandbox.requests) == 3


def test_no_retries_when_max_retries_is_zero(wxpay_sandbox):
    wxpay_sandbox.add_fault("status", status=500, code="SYSTEM_ERROR")
    with make_client(wxpay_sandbox, max_retries=0) as client, pytest.raises(errors.WeChatPaySystemError):
        client.upload_bytes(png_bytes(15), "a.png")
    assert len(wxpay_sandbox.requests) == 1


def test_a_text_answer_from_a_proxy_is_a_clear_error(client, wxpay_sandbox):
    wxpay_sandbox.add_fault("non_json", count=3, status=502)
    with pytest.raises(errors.InvalidResponseError) as info:
        client.upload_bytes(png_bytes(16), "a.png")
    assert info.value.status == 502 and "not JSON" in str(info.value)
    assert len(wxpay_sandbox.requests) == 3  # 5xx: retried


def test_a_text_4xx_answer_is_not_retried(client, wxpay_sandbox):
    wxpay_sandbox.add_fault("non_json", status=400)
    with pytest.raises(errors.InvalidResponseError):
        client.upload_bytes(png_bytes(17), "a.png")
    assert len(wxpay_sandbox.requests) == 1


# -- transport ------------------------------------------------------------------------------


def test_dropped_connection_is_retried(client, wxpay_sandbox):
    wxpay_sandbox.add_fault("drop")
    assert client.upload_bytes(png_bytes(18), "a.png").attempts == 2


def test_dropped_connection_every_time_is_a_connection_error(client, wxpay_sandbox):
    wxpay_sandbox.add_fault("drop", count=3)
    with pytest.raises(errors.WeChatPayConnectionError) as info:
        client.upload_bytes(png_bytes(19), "a.png")
    assert info.value.attempts == 3
    assert isinstance(info.value.__cause__, Exception)


def test_a_read_timeout_on_the_upload_is_retried(wxpay_sandbox):
    # Same policy as a connection lost after sending: the upload may be sent again
    # (README "Retries and failures"); WeChat Pay may then hold an unused copy.
    wxpay_sandbox.add_fault("delay", seconds=1.0)
    with make_client(wxpay_sandbox, timeout=0.3, deadline=30, sleep=Sleeps()) as client:
        result = client.upload_bytes(png_bytes(20), "a.png")
    assert result.attempts == 2
    # The first, delayed attempt may still be performed: WeChat may hold two copies.
    assert result.media_id in wxpay_sandbox.issued_media_ids


def test_a_read_timeout_every_time_is_a_timeout_error(wxpay_sandbox):
    wxpay_sandbox.add_fault("delay", count=3, seconds=1.0)
    with (
        make_client(wxpay_sandbox, timeout=0.3, deadline=30, sleep=Sleeps()) as client,
        pytest.raises(errors.WeChatPayTimeout) as info,
    ):
        client.upload_bytes(png_bytes(20), "a.png")
    assert info.value.request_sent is True and info.value.attempts == 3


def test_connection_refused_everywhere_is_a_connection_error(wxpay_sandbox, sleeps):
    port = closed_port()
    with (
        make_client(wxpay_sandbox, base_url=f"http://127.0.0.1:{port}", sleep=sleeps) as client,
        pytest.raises(errors.WeChatPayConnectionError) as info,
    ):
        client.upload_bytes(png_bytes(21), "a.png")
    assert info.value.attempts == 3 and len(sleeps) == 2


def test_backup_host_only_for_the_default_base_url(wxpay_sandbox):
    assert make_client(wxpay_sandbox, base_url=DEFAULT_BASE_URL).backup_base_url == BACKUP_BASE_URL
    assert make_client(wxpay_sandbox).backup_base_url is None


def test_fails_over_when_the_connection_cannot_be_made(wxpay_sandbox, sleeps):
    port = closed_port()
    with make_client(
        wxpay_sandbox, base_url=f"http://127.0.0.1:{port}", backup_base_url=wxpay_sandbox.base_url, sleep=sleeps
    ) as client:
        result = client.upload_bytes(png_bytes(22), "a.png")
    assert result.attempts == 1 and sleeps == []
    assert len(wxpay_sandbox.uploads) == 1


def test_no_failover_once_the_request_was_sent(wxpay_sandbox, wxpay_sandbox_factory):
    backup = wxpay_sandbox_factory(mode="public_key")
    wxpay_sandbox.add_fault("drop", count=3)
    with (
        make_client(wxpay_sandbox, backup_base_url=backup.base_url) as client,
        pytest.raises(errors.WeChatPayConnectionError),
    ):
        client.upload_bytes(png_bytes(23), "a.png")
    assert backup.requests == []
    assert len(wxpay_sandbox.requests) == 3


# -- key modes --------------------------------------------------------------------------------


def test_certificate_mode_downloads_decrypts_and_verifies(wxpay_sandbox_factory):
    sandbox = wxpay_sandbox_factory(mode="certificate")
    with make_client(sandbox) as client:
        result = client.upload_bytes(png_bytes(24), "a.png")
        assert result.media_id == sandbox.uploads[0].media_id
        assert sandbox.certificate_downloads == 1
        serial = client.keys.certificate_serials
        upload_request = next(r for r in sandbox.requests if r.method == "POST")
        assert upload_request.headers.get("Wechatpay-Serial") in serial
        client.upload_bytes(png_bytes(25), "b.png")
        assert sandbox.certificate_downloads == 1  # cached


def test_rotated_certificate_is_downloaded_again(wxpay_sandbox_factory):
    sandbox = wxpay_sandbox_factory(mode="certificate")
    with make_client(sandbox) as client:
        client.upload_bytes(png_bytes(26), "a.png")
        client.keys._last_download -= 61  # a minute later
        [old_serial] = client.keys.certificate_serials
        sandbox.rotate_certificate()
        client.upload_bytes(png_bytes(27), "b.png")
        assert sandbox.certificate_downloads == 2
        assert len(client.keys.certificate_serials) == 2
    downloads = [r for r in sandbox.requests if r.path == "/v3/certificates"]
    # Every request names the key we accept, once we know one.
    assert "Wechatpay-Serial" not in downloads[0].headers
    assert downloads[1].headers["Wechatpay-Serial"] == old_serial


def test_unknown_serial_downloads_at_most_once_a_minute(wxpay_sandbox_factory):
    sandbox = wxpay_sandbox_factory(mode="certificate")
    with make_client(sandbox) as client:
        client.upload_bytes(png_bytes(28), "a.png")
        sandbox.add_fault("unknown_serial", count=2)
        for seed in (29, 30):
            with pytest.raises(errors.SignatureVerificationError):
                client.upload_bytes(png_bytes(seed), "a.png")
        assert sandbox.certificate_downloads == 1
        client.keys._last_download -= 61
        sandbox.add_fault("unknown_serial")
        with pytest.raises(errors.SignatureVerificationError):
            client.upload_bytes(png_bytes(31), "a.png")
        assert sandbox.certificate_downloads == 2


def test_expired_certificates_are_dropped(wxpay_sandbox_factory):
    sandbox = wxpay_sandbox_factory(mode="certificate")
    sandbox.add_expired_certificate()
    with make_client(sandbox) as client:
        client.upload_bytes(png_bytes(32), "a.png")
        assert len(client.keys.certificate_serials) == 1


def test_wrong_apiv3_key_is_a_configuration_error(wxpay_sandbox_factory):
    sandbox = wxpay_sandbox_factory(mode="certificate")
    with make_client(sandbox, apiv3_key="0" * 32) as client, pytest.raises(errors.ConfigurationError) as info:
        client.upload_bytes(png_bytes(33), "a.png")
    assert "APIv3 key" in str(info.value) and "0" * 32 not in str(info.value)
    assert sandbox.uploads == []


def test_both_modes_together_ask_for_the_public_key(wxpay_sandbox_factory):
    sandbox = wxpay_sandbox_factory(mode="both")
    settings = sandbox.settings()
    with make_client(sandbox) as client:
        client.upload_bytes(png_bytes(34), "a.png")
    assert settings["WECHATPAY_PUBLIC_KEY_ID"] and settings["APIV3_KEY"]
    request = next(r for r in sandbox.requests if r.method == "POST")
    assert request.headers["Wechatpay-Serial"] == settings["WECHATPAY_PUBLIC_KEY_ID"]


def test_certificates_only_against_a_migrating_server(wxpay_sandbox_factory):
    sandbox = wxpay_sandbox_factory(mode="both")
    with make_client(sandbox, public_key=None, public_key_id=None) as client:
        result = client.upload_bytes(png_bytes(35), "a.png")
    assert result.media_id == sandbox.uploads[0].media_id


def test_public_key_only_cannot_verify_certificate_answers(wxpay_sandbox_factory):
    sandbox = wxpay_sandbox_factory(mode="certificate")
    public = wxpay_sandbox_factory(mode="public_key")
    pk = public.settings()
    with (
        make_client(
            sandbox, apiv3_key=None, public_key=pk["WECHATPAY_PUBLIC_KEY"], public_key_id=pk["WECHATPAY_PUBLIC_KEY_ID"]
        ) as client,
        pytest.raises(errors.SignatureVerificationError),
    ):
        client.upload_bytes(png_bytes(36), "a.png")


# -- configuration and secrets ---------------------------------------------------------------------


def test_configuration_errors(wxpay_sandbox):
    with pytest.raises(errors.ConfigurationError):
        make_client(wxpay_sandbox, private_key="not a key")
    with pytest.raises(errors.ConfigurationError):
        make_client(wxpay_sandbox, public_key_id=None)
    with pytest.raises(errors.ConfigurationError):
        make_client(wxpay_sandbox, public_key=None, public_key_id=None, apiv3_key=None)
    with pytest.raises(errors.ConfigurationError):
        make_client(wxpay_sandbox, apiv3_key="short")


def test_secrets_never_in_repr_errors_or_logs(wxpay_sandbox_factory, caplog):
    sandbox = wxpay_sandbox_factory(mode="both")
    s = sandbox.settings()
    secret_bits = [s["PRIVATE_KEY"].splitlines()[1], s["APIV3_KEY"]]
    caplog.set_level(logging.DEBUG)
    sandbox.add_fault("status", count=3, status=500, code="SYSTEM_ERROR")
    with make_client(sandbox) as client:
        texts = [repr(client), repr(client.signer), repr(client.keys)]
        with pytest.raises(errors.WeChatPayError) as info:
            client.upload_bytes(png_bytes(37), "a.png")
        texts.append(str(info.value))
        sandbox.add_fault("forged_signature")
        with pytest.raises(errors.WeChatPayError) as info:
            client.upload_bytes(png_bytes(38), "a.png")
        texts.append(str(info.value))
    with pytest.raises(errors.ConfigurationError) as info:
        make_client(sandbox, private_key=s["PRIVATE_KEY"][:300])
    texts.append(str(info.value))
    texts.append(caplog.text)
    for text in texts:
        for bit in secret_bits:
            assert bit not in text


def test_one_session_keeps_connections_alive(client, wxpay_sandbox):
    session = client.session
    for seed in (39, 40, 41):
        client.upload_bytes(png_bytes(seed), "a.png")
    assert client.session is session
    assert len({r.client_port for r in wxpay_sandbox.requests}) == 1  # one TCP connection


# -- what may make the client download certificates (issue 14) -----------------------------------


def _unsigned_headers(serial: str, timestamp: int) -> dict[str, str]:
    return {
        "Wechatpay-Timestamp": str(timestamp),
        "Wechatpay-Nonce": "nonce",
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature": base64.b64encode(b"x" * 256).decode(),
    }


def test_only_a_fresh_certificate_shaped_serial_downloads_certificates(wxpay_sandbox_factory):
    sandbox = wxpay_sandbox_factory(mode="certificate")
    with make_client(sandbox) as client:
        now = int(time.time())
        for serial, timestamp in [
            ("AB" * 20, now - 600),  # stale: checked before anything is downloaded
            ("PUB_KEY_ID_0114232026111900000000000000", now),  # a public key id is never a certificate
            ("../../v3/certificates", now),
            ("", now),
            ("ABCDEFG", now),
        ]:
            with pytest.raises(errors.SignatureVerificationError):
                client.keys.verify(_unsigned_headers(serial, timestamp), b"{}")
        assert sandbox.certificate_downloads == 0
        with pytest.raises(errors.SignatureVerificationError):  # the control: well-formed, fresh, unknown
            client.keys.verify(_unsigned_headers("AB" * 20, now), b"{}")
        assert sandbox.certificate_downloads == 1


@given(serial=st.text(max_size=50), age=st.integers(min_value=-(10**6), max_value=10**6))
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
def test_no_download_for_a_stale_or_odd_serial(wxpay_sandbox_factory, serial, age):
    sandbox = wxpay_sandbox_factory(mode="certificate")
    with make_client(sandbox) as client:
        fresh = abs(age) < 300
        shaped = serial.isascii() and len(serial) in range(8, 65) and all(c in "0123456789abcdefABCDEF" for c in serial)
        with pytest.raises(errors.SignatureVerificationError):
            client.keys.verify(_unsigned_headers(serial, int(time.time()) - age), b"{}")
        assert sandbox.certificate_downloads == (1 if fresh and shaped else 0)


def test_public_key_only_never_downloads_certificates(wxpay_sandbox_factory):
    """``certificates=False``: the APIv3 key is kept for notifications, no certificate is ever fetched."""
    sandbox = wxpay_sandbox_factory(mode="public_key")
    with make_client(sandbox, certificates=False) as client:
        assert client.keys.apiv3_key is not None and not client.keys.uses_certificates
        client.upload_bytes(png_bytes(41), "a.png")
        sandbox.add_fault("unknown_serial", serial="AB" * 20)
        with pytest.raises(errors.SignatureVerificationError):
            client.upload_bytes(png_bytes(42), "b.png")
        with pytest.raises(errors.SignatureVerificationError):
            client.keys.verify(_unsigned_headers("CD" * 20, int(time.time())), b"{}")
        assert client.keys.refresh_certificates(force=True) is False
    assert sandbox.certificate_downloads == 0
    assert not [r for r in sandbox.requests if r.path == "/v3/certificates"]
    with pytest.raises(errors.ConfigurationError):
        make_client(sandbox, public_key=None, public_key_id=None, certificates=False)
