"""The generic request API (``request_json``) and ``download``, over real sockets.

The sandbox answers what it emulates (``GET /v3/certificates``, faults); a scripted
loopback server (tests/wechatpay/loopback.py) answers what it does not emulate yet:
the image download, signed and unsigned 204s, redirects.
"""

from __future__ import annotations

import base64
import json
import re

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from django_wxpay_media.wechatpay import errors
from tests.images import bmp_bytes, jpeg_bytes, png_bytes
from tests.wechatpay.loopback import Loopback, Received, Reply, signature_headers
from tests.wechatpay.test_client import Sleeps, make_client


@pytest.fixture
def cert_sandbox(wxpay_sandbox_factory):
    return wxpay_sandbox_factory(mode="certificate")


def signed(keys, body: bytes, status: int = 200, extra: list | None = None) -> Reply:
    headers = signature_headers(keys.wechatpay_private_key_pem, keys.wechatpay_public_key_id, body)
    if body:
        headers.append(("Content-Type", "application/json"))
    return Reply(status=status, headers=headers + (extra or []), body=body)


def request_signature_valid(keys, received: Received) -> bool:
    """Check the request's Authorization over the target and body as received."""
    auth = received.headers["authorization"]
    fields = dict(re.findall(r'(\w+)="([^"]*)"', auth))
    message = f"{received.method}\n{received.target}\n{fields['timestamp']}\n{fields['nonce_str']}\n".encode()
    message += received.body + b"\n"
    key = serialization.load_pem_private_key(keys.merchant_private_key_pem.encode(), password=None).public_key()
    try:
        key.verify(base64.b64decode(fields["signature"]), message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


# -- request_json against the sandbox ----------------------------------------------------------


def test_request_json_gets_the_certificate_list(cert_sandbox):
    with make_client(cert_sandbox) as client:
        answer = client.request_json("GET", "/v3/certificates")
    assert answer.status == 200
    assert [entry["serial_no"] for entry in answer.data["data"]] == [c.serial_no for c in cert_sandbox.certificates]
    assert answer.request_id == cert_sandbox.requests[-1].request_id
    assert answer.body and answer.attempts == 1


def test_the_signed_url_is_exactly_the_one_sent(cert_sandbox):
    with make_client(cert_sandbox) as client:
        answer = client.request_json(
            "GET", "/v3/certificates?x=a%3D%3D", query={"b": "中 文/+", "c": 1, "d": None, "e": True}
        )
    assert answer.status == 200  # the sandbox checked the signature over the target it received
    assert cert_sandbox.requests[-1].path == "/v3/certificates?x=a%3D%3D&b=%E4%B8%AD%20%E6%96%87%2F%2B&c=1&e=true"


def test_request_json_answer_is_verified(cert_sandbox):
    with make_client(cert_sandbox) as client:
        client.keys.refresh_certificates(force=True)
        cert_sandbox.add_fault("forged_signature", path="/v3/certificates")
        with pytest.raises(errors.SignatureVerificationError):
            client.request_json("GET", "/v3/certificates")


def test_request_json_maps_error_answers(wxpay_sandbox):
    with make_client(wxpay_sandbox) as client, pytest.raises(errors.WeChatPayAPIError) as info:
        client.request_json("GET", "/v3/merchant-service/no-such-api")
    assert (info.value.status, info.value.code) == (404, "NOT_FOUND")


def test_a_get_that_may_have_arrived_is_retried(wxpay_sandbox):
    wxpay_sandbox.add_fault("drop", path="/v3/merchant-service/x")
    wxpay_sandbox.add_fault("status", status=400, code="PARAM_ERROR", path="/v3/merchant-service/x")
    with make_client(wxpay_sandbox, sleep=Sleeps()) as client, pytest.raises(errors.ParamError):
        client.request_json("GET", "/v3/merchant-service/x")
    assert len(wxpay_sandbox.requests) == 2


def test_a_post_that_may_have_arrived_is_never_sent_again(wxpay_sandbox):
    wxpay_sandbox.add_fault("drop", count=3, path="/v3/merchant-service/x/response")
    with (
        make_client(wxpay_sandbox, sleep=Sleeps()) as client,
        pytest.raises(errors.WeChatPayConnectionError) as info,
    ):
        client.request_json("POST", "/v3/merchant-service/x/response", json={"response_content": "好"})
    assert info.value.request_sent is True and info.value.attempts == 1
    assert len(wxpay_sandbox.requests) == 1


def test_a_post_declared_idempotent_is_retried(wxpay_sandbox):
    wxpay_sandbox.add_fault("drop", path="/v3/merchant-service/x/response-immediate-service")
    wxpay_sandbox.add_fault(
        "status", status=400, code="PARAM_ERROR", path="/v3/merchant-service/x/response-immediate-service"
    )
    with make_client(wxpay_sandbox, sleep=Sleeps()) as client, pytest.raises(errors.ParamError):
        client.request_json(
            "POST", "/v3/merchant-service/x/response-immediate-service", json={"idempotent_id": "1"}, idempotent=True
        )
    assert len(wxpay_sandbox.requests) == 2


def test_a_post_refused_before_sending_is_retried(wxpay_sandbox):
    # 5xx means WeChat did not do it: "retry later with the same parameters".
    wxpay_sandbox.add_fault("status", status=500, path="/v3/merchant-service/x/complete")
    wxpay_sandbox.add_fault("status", status=403, code="NO_AUTH", path="/v3/merchant-service/x/complete")
    with make_client(wxpay_sandbox, sleep=Sleeps()) as client, pytest.raises(errors.NoAuthError):
        client.request_json("POST", "/v3/merchant-service/x/complete", json={})
    assert len(wxpay_sandbox.requests) == 2


# -- request_json: JSON bodies and 204s (loopback) ----------------------------------------------


def test_a_json_body_is_signed_as_the_exact_bytes_sent(wxpay_sandbox, wxpay_sandbox_keys):
    payload = {"complainted_mchid": "1900000001", "response_content": '您好，已退款 "全额" \\ 😀', "n": [1, 2.5]}
    with Loopback(lambda r: signed(wxpay_sandbox_keys, b"", status=204)) as loop:
        with make_client(wxpay_sandbox, base_url=loop.base_url) as client:
            answer = client.request_json("POST", "/v3/merchant-service/complaints-v2/2001/response", json=payload)
        [received] = loop.received
    assert (answer.status, answer.data, answer.body) == (204, None, b"")
    assert answer.request_id.startswith("LOOPBACK-")
    assert received.headers["content-type"] == "application/json"
    assert received.headers["accept"] == "application/json"
    assert received.headers["wechatpay-serial"] == wxpay_sandbox_keys.wechatpay_public_key_id
    assert request_signature_valid(wxpay_sandbox_keys, received)
    assert json.loads(received.body) == payload


def test_an_unsigned_204_is_not_a_success(wxpay_sandbox, wxpay_sandbox_keys):
    with (
        Loopback(lambda r: Reply(status=204)) as loop,
        make_client(wxpay_sandbox, base_url=loop.base_url) as client,
        pytest.raises(errors.SignatureVerificationError) as info,
    ):
        client.request_json("POST", "/v3/merchant-service/complaints-v2/2001/complete", json={})
    assert info.value.reason == "missing_headers"
    assert len(loop.received) == 1


def test_a_signed_200_keeps_unknown_fields(wxpay_sandbox, wxpay_sandbox_keys):
    body = b'{"complaint_id":"2001","new_field_2027":{"x":[1]}}'
    with Loopback(lambda r: signed(wxpay_sandbox_keys, body)) as loop:
        with make_client(wxpay_sandbox, base_url=loop.base_url) as client:
            answer = client.request_json("GET", "/v3/merchant-service/complaints-v2/2001")
        assert request_signature_valid(wxpay_sandbox_keys, loop.received[0])
    assert answer.data == {"complaint_id": "2001", "new_field_2027": {"x": [1]}}


# -- download (loopback: the sandbox has no download endpoint yet) -------------------------------


def image_reply(data: bytes, content_type: str = "image/png") -> Reply:
    return Reply(headers=[("Content-Type", content_type), ("Request-ID", "DL-1")], body=data)


@pytest.mark.parametrize(
    ("data", "kind"), [(png_bytes(1), "image/png"), (jpeg_bytes(2), "image/jpeg"), (bmp_bytes(3), "image/bmp")]
)
def test_download_returns_checked_image_bytes(wxpay_sandbox, wxpay_sandbox_keys, data, kind):
    with Loopback(lambda r: image_reply(data, kind)) as loop:
        with make_client(wxpay_sandbox, base_url=loop.base_url) as client:
            download = client.download("/v3/merchant-service/images/abc%3D%3D")
        [received] = loop.received
    assert (download.data, download.content_type, download.request_id) == (data, kind, "DL-1")
    assert received.method == "GET" and received.target == "/v3/merchant-service/images/abc%3D%3D"
    assert received.headers["accept"] == "*/*"
    assert request_signature_valid(wxpay_sandbox_keys, received)


def test_download_takes_a_media_url_on_the_api_host(wxpay_sandbox, wxpay_sandbox_keys):
    url = "https://api.mch.weixin.qq.com/v3/merchant-service/images/XYZ%2B1%3D%3D?sig=a%2Fb"
    with Loopback(lambda r: image_reply(png_bytes(4))) as loop:
        with make_client(wxpay_sandbox, base_url=loop.base_url) as client:
            assert client.download(url).data == png_bytes(4)
            assert client.download(loop.base_url + "/v3/merchant-service/images/2").data == png_bytes(4)
        targets = [r.target for r in loop.received]
        assert all(request_signature_valid(wxpay_sandbox_keys, r) for r in loop.received)
    assert targets == ["/v3/merchant-service/images/XYZ%2B1%3D%3D?sig=a%2Fb", "/v3/merchant-service/images/2"]


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/v3/merchant-service/images/1",
        "http://api.mch.weixin.qq.com/v3/merchant-service/images/1",
        "https://api.mch.weixin.qq.com.evil.example/v3/merchant-service/images/1",
        "https://user:pw@api.mch.weixin.qq.com/v3/merchant-service/images/1",
        "ftp://api.mch.weixin.qq.com/v3/x",
        "v3/merchant-service/images/1",
        "/v3/images/1 2",
    ],
)
def test_download_refuses_other_hosts_before_any_request(wxpay_sandbox, url):
    with Loopback(lambda r: image_reply(png_bytes(5))) as loop:
        with (
            make_client(wxpay_sandbox, base_url=loop.base_url) as client,
            pytest.raises(errors.InvalidURLError),
        ):
            client.download(url)
        assert loop.received == []


@pytest.mark.parametrize(
    "reply",
    [
        image_reply(png_bytes(6), "application/json"),
        image_reply(png_bytes(6), ""),
        image_reply(b"<html>not an image</html>", "image/png"),
        image_reply(b"", "image/png"),
        image_reply(b"\x89PNG\r\n\x1a\n", "image/png"),  # a bare signature
        image_reply(png_bytes(6)[:-12], "image/png"),  # cut before IEND
    ],
)
def test_download_refuses_what_is_not_an_image(wxpay_sandbox, reply):
    with (
        Loopback(lambda r: reply) as loop,
        make_client(wxpay_sandbox, base_url=loop.base_url) as client,
        pytest.raises(errors.InvalidResponseError) as info,
    ):
        client.download("/v3/merchant-service/images/1")
    assert info.value.request_id == "DL-1"


def test_download_error_answer_is_an_api_error(wxpay_sandbox):
    body = b'{"code":"PARAM_ERROR","message":"\xe5\x9b\xbe\xe7\x89\x87\xe4\xb8\x8d\xe5\xad\x98\xe5\x9c\xa8"}'
    with (
        Loopback(lambda r: Reply(status=400, headers=[("Content-Type", "application/json")], body=body)) as loop,
        make_client(wxpay_sandbox, base_url=loop.base_url) as client,
        pytest.raises(errors.ParamError) as info,
    ):
        client.download("/v3/merchant-service/images/1")
    assert info.value.message == "图片不存在" and len(loop.received) == 1


def test_download_size_is_capped(wxpay_sandbox):
    big = png_bytes(7) + b"\x00" * 5000
    for content_length in (True, False):  # announced, or only found while reading
        reply = Reply(headers=[("Content-Type", "image/png")], body=big, content_length=content_length)
        with (
            Loopback(lambda r, reply=reply: reply) as loop,
            make_client(wxpay_sandbox, base_url=loop.base_url) as client,
            pytest.raises(errors.InvalidResponseError) as info,
        ):
            client.download("/v3/merchant-service/images/1", max_bytes=4096)
        assert "larger than 4096 bytes" in str(info.value)


# -- hostile answers: every one is an InvalidResponseError, and reading is capped -------------------


def test_a_deeply_nested_error_body_is_an_invalid_response(wxpay_sandbox):
    wxpay_sandbox.add_fault("non_json", status=400, body="[" * 100_000)
    with make_client(wxpay_sandbox) as client, pytest.raises(errors.InvalidResponseError) as info:
        client.upload_bytes(png_bytes(40), "a.png")
    assert info.value.status == 400 and len(wxpay_sandbox.requests) == 1


def test_a_deeply_nested_signed_answer_is_an_invalid_response(wxpay_sandbox, wxpay_sandbox_keys):
    with (
        Loopback(lambda r: signed(wxpay_sandbox_keys, b"[" * 100_000)) as loop,
        make_client(wxpay_sandbox, base_url=loop.base_url) as client,
        pytest.raises(errors.InvalidResponseError),
    ):
        client.request_json("GET", "/v3/merchant-service/complaints-v2")


@pytest.mark.parametrize("content_length", [True, False])
def test_a_json_answer_over_one_mib_is_not_read(wxpay_sandbox, wxpay_sandbox_keys, content_length):
    body = b'{"data":"' + b"x" * (1024 * 1024) + b'"}'
    reply = signed(wxpay_sandbox_keys, body)
    reply.content_length = content_length
    with (
        Loopback(lambda r: reply) as loop,
        make_client(wxpay_sandbox, base_url=loop.base_url) as client,
        pytest.raises(errors.InvalidResponseError) as info,
    ):
        client.request_json("GET", "/v3/merchant-service/complaints-v2")
    assert "larger than 1048576 bytes" in str(info.value)


@pytest.mark.parametrize(
    "media_id",
    ["", " ", " ABC.png", "ABC.png\n", "AB\x00C", "AB\u202eC", "x" * 513, "x" * 600, 5, None, ["x"], {"a": 1}],
)
def test_an_invalid_media_id_is_an_invalid_response_not_a_success(wxpay_sandbox, wxpay_sandbox_keys, media_id):
    body = json.dumps({"media_id": media_id}).encode()
    with (
        Loopback(lambda r: signed(wxpay_sandbox_keys, body)) as loop,
        make_client(wxpay_sandbox, base_url=loop.base_url) as client,
        pytest.raises(errors.InvalidResponseError) as info,
    ):
        client.upload_bytes(png_bytes(41), "a.png")
    assert "media_id" in str(info.value) and info.value.request_id.startswith("LOOPBACK-")


def test_a_512_character_media_id_is_a_success(wxpay_sandbox, wxpay_sandbox_keys):
    media_id = "媒" * 500 + "0123456.png"[:12]
    body = json.dumps({"media_id": media_id[:512]}, ensure_ascii=False).encode()
    with (
        Loopback(lambda r: signed(wxpay_sandbox_keys, body)) as loop,
        make_client(wxpay_sandbox, base_url=loop.base_url) as client,
    ):
        assert client.upload_bytes(png_bytes(42), "a.png").media_id == media_id[:512]


def test_a_certificate_list_with_data_5_is_an_invalid_response(wxpay_sandbox_factory, wxpay_sandbox_keys):
    sandbox = wxpay_sandbox_factory(mode="certificate")
    cert = wxpay_sandbox_keys.platform_certificates[0]
    body = b'{"data": 5}'
    reply = Reply(headers=signature_headers(cert.private_key_pem, cert.serial_no, body), body=body)
    with Loopback(lambda r: reply) as loop:
        with make_client(sandbox, base_url=loop.base_url) as client, pytest.raises(errors.InvalidResponseError):
            client.upload_bytes(png_bytes(43), "a.png")
        assert [r.target for r in loop.received] == ["/v3/certificates"]  # nothing uploaded unverifiable


def test_a_post_whose_connection_was_never_made_is_retried(wxpay_sandbox):
    from tests.wechatpay.test_client import closed_port

    sleeps = Sleeps()
    with (
        make_client(wxpay_sandbox, base_url=f"http://127.0.0.1:{closed_port()}", sleep=sleeps) as client,
        pytest.raises(errors.WeChatPayConnectionError) as info,
    ):
        client.request_json("POST", "/v3/merchant-service/x/response", json={})
    assert info.value.request_sent is False and info.value.attempts == 3 and len(sleeps) == 2


# -- deadlines -----------------------------------------------------------------------------------


def trickle(keys, pieces: int = 40, pause: float = 0.1) -> Reply:
    """A signed answer sent a few bytes at a time: every read is well within TIMEOUT."""
    reply = signed(keys, json.dumps({"data": "x" * 400}).encode())
    reply.pieces, reply.pause = pieces, pause
    return reply


def test_a_trickling_answer_is_cut_at_the_deadline(wxpay_sandbox, wxpay_sandbox_keys):
    # Without a deadline the answer would arrive whole after about 4 s (each read takes 0.1 s).
    with (
        Loopback(lambda r: trickle(wxpay_sandbox_keys)) as loop,
        make_client(wxpay_sandbox, base_url=loop.base_url, timeout=1, deadline=0.5, max_retries=0) as client,
        pytest.raises(errors.WeChatPayTimeout) as info,
    ):
        client.request_json("GET", "/v3/merchant-service/complaints-v2")
    assert info.value.request_sent is True


def test_the_deadline_covers_the_retries_too(wxpay_sandbox, wxpay_sandbox_keys):
    sleeps = Sleeps()
    with Loopback(lambda r: trickle(wxpay_sandbox_keys)) as loop:
        with (
            make_client(
                wxpay_sandbox, base_url=loop.base_url, timeout=1, deadline=0.5, max_retries=5, sleep=sleeps
            ) as client,
            pytest.raises(errors.WeChatPayTimeout),
        ):
            client.request_json("GET", "/v3/merchant-service/complaints-v2")
        # A GET may be repeated, but not past the call's deadline.
        assert len(loop.received) == 1 and sleeps == []


def test_a_retry_after_beyond_the_deadline_gives_up_at_once(wxpay_sandbox):
    wxpay_sandbox.add_fault("status", status=429, code="FREQUENCY_LIMITED", headers={"Retry-After": "30"})
    sleeps = Sleeps()
    with make_client(wxpay_sandbox, deadline=10, sleep=sleeps) as client, pytest.raises(errors.FrequencyLimitedError):
        client.upload_bytes(png_bytes(44), "a.png")
    assert sleeps == [] and len(wxpay_sandbox.requests) == 1


def test_the_default_deadline_and_max_call_seconds(wxpay_sandbox):
    client = make_client(wxpay_sandbox, timeout=10, max_retries=3, retry_backoff=0.5)
    assert client.deadline == pytest.approx(40 + 1.5 * (0.5 + 1 + 2))
    assert client.max_call_seconds == pytest.approx(client.deadline + 10)
    assert make_client(wxpay_sandbox, deadline=7, timeout=2).max_call_seconds == 9
    for bad in ({"deadline": 0}, {"deadline": -1}, {"timeout": 0}):
        with pytest.raises(errors.ConfigurationError):
            make_client(wxpay_sandbox, **bad)


# -- HTTPS and redirects --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://api.mch.weixin.qq.com",
        "http://10.0.0.1:8000",
        "ftp://api.mch.weixin.qq.com",
        "api.mch.weixin.qq.com",
        "https://",
        "",
    ],
)
def test_the_client_refuses_a_base_url_that_is_not_https(wxpay_sandbox, url):
    with pytest.raises(errors.ConfigurationError):
        make_client(wxpay_sandbox, base_url=url)
    with pytest.raises(errors.ConfigurationError):
        make_client(wxpay_sandbox, backup_base_url=url or "http://x.example")


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9", "http://127.8.0.1:9/", "http://localhost:9", "http://[::1]:9", "https://api.example.com"],
)
def test_plain_http_is_allowed_on_loopback_only(wxpay_sandbox, url):
    assert make_client(wxpay_sandbox, base_url=url).base_url == url.rstrip("/")


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_never_followed(wxpay_sandbox, status):
    with Loopback(lambda r: Reply(status=200, headers=[("Content-Type", "application/json")], body=b"{}")) as elsewhere:
        location = elsewhere.base_url + "/v3/merchant-service/images/upload"
        with Loopback(lambda r: Reply(status=status, headers=[("Location", location)])) as loop:
            with make_client(wxpay_sandbox, base_url=loop.base_url, sleep=Sleeps()) as client:
                with pytest.raises(errors.InvalidResponseError) as info:
                    client.upload_bytes(png_bytes(45), "a.png")
                with pytest.raises(errors.InvalidResponseError):
                    client.download("/v3/merchant-service/images/1")
            assert len(loop.received) == 2  # not retried either
        assert elsewhere.received == []
    assert info.value.status == status and "redirect" in str(info.value)
