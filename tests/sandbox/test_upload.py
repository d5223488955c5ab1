"""The upload API: the happy path and every rule of the form."""

from __future__ import annotations

import hashlib
import json
import socket
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from django_wxpay_media.sandbox import Sandbox
from django_wxpay_media.sandbox.__main__ import log_line
from django_wxpay_media.sandbox.multipart import BOUNDARY_FROM_BODY
from django_wxpay_media.sandbox.upload import META_WITHOUT_CONTENT_TYPE
from tests.helpers import fuzz

from .apiv3 import (
    BMP,
    BOUNDARY,
    JPEG,
    MEDIA_ID,
    PNG,
    UPLOAD,
    Caller,
    authorization,
    error_of,
    meta_json,
    multipart,
    pem_public_key,
    verifies,
    verifies_message,
)

# --- the happy path ------------------------------------------------------------------------------


def test_upload_succeeds_and_answer_is_signed_by_the_public_key(sandbox: Sandbox, caller: Caller) -> None:
    response = caller.upload(PNG, "photo.png")
    assert response.status_code == 200, response.text
    media_id = response.json()["media_id"]
    assert MEDIA_ID.match(media_id) and media_id.endswith(".png")
    assert response.headers["Wechatpay-Serial"] == sandbox.keys.wechatpay_public_key_id
    assert response.headers["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048"
    assert response.headers["Request-ID"]
    public_key = pem_public_key(sandbox.keys.wechatpay_public_key_pem)
    assert verifies(response, public_key)
    tampered = response.content.replace(b"media_id", b"media_iD")
    assert not verifies_message(response.headers, tampered, public_key)

    (upload,) = sandbox.uploads
    assert (upload.filename, upload.data, upload.media_id) == ("photo.png", PNG, media_id)
    assert upload.sha256 == hashlib.sha256(PNG).hexdigest()
    assert upload.meta_text == meta_json("photo.png", upload.sha256).decode()
    assert upload.headers["user-agent"] == "sandbox-tests/1.0"
    (record,) = sandbox.requests
    assert (record.method, record.path, record.response_status, record.response_code) == ("POST", UPLOAD, 200, None)
    assert record.request_id == response.headers["Request-ID"]
    assert sandbox.issued_media_ids == {media_id: upload.sha256}


@pytest.mark.parametrize(("data", "name"), [(JPEG, "a.JPG"), (BMP, "scan.bmp"), (PNG, "x.PnG")])
def test_each_format_and_suffix_case_is_accepted(caller: Caller, data: bytes, name: str) -> None:
    response = caller.upload(data, name)
    assert response.status_code == 200, response.text
    assert response.json()["media_id"].endswith("." + name.rsplit(".", 1)[1].lower())


def test_same_bytes_again_get_a_new_media_id_and_request_ids_are_unique(sandbox: Sandbox, caller: Caller) -> None:
    first, second = caller.upload(), caller.upload()
    assert first.status_code == second.status_code == 200
    assert first.json()["media_id"] != second.json()["media_id"]
    assert first.headers["Request-ID"] != second.headers["Request-ID"]
    assert len(sandbox.uploads) == 2


def test_the_official_example_layout_is_accepted(sandbox: Sandbox, caller: Caller) -> None:
    """Spaces in the meta JSON, a trailing ';' in Content-Disposition, padding after a boundary."""
    digest = hashlib.sha256(JPEG).hexdigest()
    meta = b'{ "filename": "filea.jpg", "sha256": "' + digest.encode() + b'" }'
    body = (
        b"--boundary  \r\n"
        b'Content-Disposition: form-data; name="meta";\r\nContent-Type: application/json\r\n\r\n'
        + meta
        + b'\r\n--boundary\r\nContent-Disposition: form-data; name="file"; filename="filea.jpg";\r\n'
        b"Content-Type: image/jpg\r\n\r\n" + JPEG + b"\r\n--boundary--\r\n"
    )
    response = caller.upload(body=body, meta=meta, headers={"Content-Type": "multipart/form-data;boundary=boundary"})
    assert response.status_code == 200, response.text
    assert sandbox.uploads[0].meta_text == meta.decode()


def test_utf8_filename_and_longest_name(sandbox: Sandbox, caller: Caller) -> None:
    assert caller.upload(PNG, "投诉凭证-收据.png").status_code == 200
    longest = "a" * 124 + ".png"
    assert caller.upload(PNG, longest).status_code == 200
    assert [u.filename for u in sandbox.uploads] == ["投诉凭证-收据.png", longest]


def test_exactly_2_mib_is_accepted(caller: Caller) -> None:
    data = PNG + b"\x00" * (2 * 1024 * 1024 - len(PNG))
    assert caller.upload(data, "big.png").status_code == 200


# --- the form -------------------------------------------------------------------------------


def _with_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"data": JPEG, "filename": "photo.jpeg"}, ".jpg, .png or .bmp"),
        ({"data": PNG, "filename": "photo"}, ".jpg, .png or .bmp"),
        ({"data": PNG, "filename": "photo.jpg"}, "PNG image"),
        ({"data": JPEG, "filename": "photo.bmp"}, "JPEG image"),
        ({"data": b"GIF89a" + bytes(50), "filename": "a.png"}, "not a JPEG, PNG or BMP"),
        ({"data": b"", "filename": "a.png"}, "empty"),
        ({"data": PNG + bytes(2 * 1024 * 1024 - len(PNG) + 1), "filename": "a.png"}, "at most 2097152 bytes"),
        ({"data": PNG, "filename": "a.png", "digest": "0" * 64}, "does not match"),
        ({"data": PNG, "filename": "a.png", "digest": _with_digest(PNG).upper()}, "lower-case hex"),
        ({"data": PNG, "filename": "a" * 125 + ".png"}, "1 to 128 characters"),
        ({"data": PNG, "filename": "smile\U0001f600.png"}, "4-byte UTF-8"),
        ({"data": PNG, "filename": "tab\there.png"}, "control character"),
        ({"data": PNG, "filename": "a.png", "header_filename": b"b.png"}, "differs from the meta filename"),
    ],
    ids=[
        "jpeg-suffix",
        "no-suffix",
        "png-named-jpg",
        "jpeg-named-bmp",
        "gif",
        "empty",
        "over-2mib",
        "wrong-sha256",
        "upper-sha256",
        "129-chars",
        "emoji",
        "control",
        "file-part-name",
    ],
)
def test_upload_rule_violations(sandbox: Sandbox, caller: Caller, kwargs: dict[str, Any], needle: str) -> None:
    status, code, message = error_of(caller.upload(**kwargs))
    assert (status, code) == (400, "PARAM_ERROR")
    assert needle in message
    assert sandbox.uploads == []


def test_rfc2231_filename_star_is_refused(caller: Caller) -> None:
    name = "收据.png"
    header = "x.png\"; filename*=UTF-8''" + requests.utils.quote(name)
    status, code, message = error_of(caller.upload(PNG, name, header_filename=header.encode()))
    assert (status, code) == (400, "PARAM_ERROR")
    assert "filename*" in message


def _body_variants(meta: bytes) -> dict[str, tuple[bytes, str]]:
    good = multipart(meta, PNG, b"photo.png")
    return {
        "lf-line-ends": (good.replace(b"\r\n", b"\n"), "CRLF"),
        "no-closing-boundary": (good[: -len(b"--" + BOUNDARY.encode() + b"--\r\n")], "closing"),
        "preamble": (b"hello\r\n" + good, "start with"),
        "meta-missing": (
            good.split(b"--" + BOUNDARY.encode() + b"\r\n", 2)[0]
            + b"--"
            + BOUNDARY.encode()
            + b"\r\n"
            + good.split(b"--" + BOUNDARY.encode() + b"\r\n", 2)[2],
            "meta",
        ),
        "extra-part": (
            good.replace(
                b"--" + BOUNDARY.encode() + b"--",
                b"--"
                + BOUNDARY.encode()
                + b'\r\nContent-Disposition: form-data; name="x"\r\n\r\nx\r\n--'
                + BOUNDARY.encode()
                + b"--",
            ),
            "unexpected form part",
        ),
        "meta-content-type": (
            good.replace(b"Content-Type: application/json\r\n", b"Content-Type: text/plain\r\n"),
            "application/json",
        ),
        "epilogue": (good + b"trailing junk", "closing"),
    }


@pytest.mark.parametrize(
    "variant",
    ["lf-line-ends", "no-closing-boundary", "preamble", "meta-missing", "extra-part", "meta-content-type", "epilogue"],
)
def test_malformed_multipart_is_refused(caller: Caller, variant: str) -> None:
    meta = meta_json("photo.png", hashlib.sha256(PNG).hexdigest())
    body, needle = _body_variants(meta)[variant]
    status, code, message = error_of(caller.upload(body=body, meta=meta))
    assert (status, code) == (400, "PARAM_ERROR")
    assert needle in message


@pytest.mark.parametrize(
    ("meta", "needle"),
    [
        (b'{"filename":"a.png"}', "exactly filename and sha256"),
        (b'{"filename":"a.png","sha256":"%s","x":1}', "exactly filename and sha256"),
        (b'{"filename":"a.png","filename":"a.png","sha256":"%s"}', "twice"),
        (b'["a.png"]', "JSON object"),
        (b"{filename}", "not valid JSON"),
        (b'{"filename":7,"sha256":"%s"}', "must be a string"),
        (b"[" * 100_000, "not valid JSON"),  # deeper than the JSON decoder recurses: never a 500
    ],
)
def test_bad_meta_json_is_refused(caller: Caller, meta: bytes, needle: str) -> None:
    if b"%s" in meta:
        meta = meta.replace(b"%s", hashlib.sha256(PNG).hexdigest().encode())
    status, code, message = error_of(caller.upload(meta=meta, header_filename=b"a.png"))
    assert (status, code) == (400, "PARAM_ERROR")
    assert needle in message


# --- a Content-Type without a boundary (WxJava issue 3280; wechatpayv3 2.0.4 sends it) --------------


def _raw_upload(sandbox: Sandbox, content_type: bytes, body: bytes, meta: bytes) -> bytes:
    """POST the upload over a bare socket, headers exactly as given; the raw answer."""
    head = (
        (
            f"POST {UPLOAD} HTTP/1.1\r\nHost: {sandbox.host}:{sandbox.port}\r\n"
            f"Authorization: {authorization(sandbox.keys, 'POST', UPLOAD, meta)}\r\n"
            "Accept: application/json\r\nUser-Agent: raw-test/1\r\nConnection: close\r\n"
            f"Content-Length: {len(body)}\r\n"
        ).encode()
        + b"Content-Type: "
        + content_type
        + b"\r\n\r\n"
    )
    with socket.create_connection((sandbox.host, sandbox.port), timeout=10) as raw:
        raw.sendall(head + body)
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    return answer


def test_content_type_without_boundary_takes_it_from_the_body_and_says_so(sandbox: Sandbox) -> None:
    meta = meta_json("nob.png", hashlib.sha256(PNG).hexdigest())
    answer = _raw_upload(sandbox, b"multipart/form-data", multipart(meta, PNG, b"nob.png"), meta)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
    (upload,) = sandbox.uploads
    assert (upload.filename, upload.data) == ("nob.png", PNG)
    (record,) = sandbox.requests
    assert record.notes == (BOUNDARY_FROM_BODY,)
    assert "boundary" in log_line(record) and "note=" in log_line(record)


def test_meta_part_without_content_type_is_accepted_and_noted(sandbox: Sandbox, caller: Caller) -> None:
    """WeChat Pay takes a meta part with no Content-Type (wechatpayv3 sends it so): so does the sandbox."""
    meta = meta_json("bare.png", hashlib.sha256(PNG).hexdigest())
    body = multipart(meta, PNG, b"bare.png").replace(b"Content-Type: application/json\r\n", b"", 1)
    assert b"application/json" not in body
    response = caller.upload(body=body, meta=meta)
    assert response.status_code == 200, response.text
    (upload,) = sandbox.uploads
    assert (upload.filename, upload.data) == ("bare.png", PNG)
    (record,) = sandbox.requests
    assert record.notes == (META_WITHOUT_CONTENT_TYPE,)
    assert "note=" in log_line(record) and "Content-Type" in log_line(record)


def test_a_boundary_in_the_header_leaves_no_note(sandbox: Sandbox, caller: Caller) -> None:
    assert caller.upload().status_code == 200
    assert sandbox.requests[0].notes == ()
    assert "note=" not in log_line(sandbox.requests[0])


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"hello\r\n--" + BOUNDARY.encode() + b"\r\n", "first line is not a --boundary line"),
        (b"--" + BOUNDARY.encode() + b"\n", "first line is not a --boundary line"),  # no CRLF at all
        (b"--" + b"x" * 71 + b"\r\n", "1 to 70 characters"),
        (b"--\xe4\xb8\xad\r\n", "1 to 70 characters"),
    ],
)
def test_content_type_without_boundary_and_no_boundary_line_is_refused(
    sandbox: Sandbox, body: bytes, needle: str
) -> None:
    meta = meta_json("nob.png", hashlib.sha256(PNG).hexdigest())
    answer = _raw_upload(sandbox, b"multipart/form-data", body, meta)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:300]
    error = json.loads(answer.partition(b"\r\n\r\n")[2])
    assert error["code"] == "PARAM_ERROR" and needle in error["message"]
    assert sandbox.uploads == []


def test_an_empty_boundary_parameter_is_still_refused(sandbox: Sandbox) -> None:
    meta = meta_json("nob.png", hashlib.sha256(PNG).hexdigest())
    answer = _raw_upload(sandbox, b'multipart/form-data; boundary=""', multipart(meta, PNG, b"nob.png"), meta)
    assert answer.startswith(b"HTTP/1.1 400 ") and b"empty boundary" in answer


def test_wechatpayv3_uploads_to_the_sandbox(sandbox: Sandbox, tmp_path: Any) -> None:
    """The most used Python SDK's upload (no meta Content-Type, no boundary) is accepted as WeChat accepts it."""
    wechatpayv3 = pytest.importorskip("wechatpayv3")
    settings = sandbox.settings()
    pay = wechatpayv3.WeChatPay(
        wechatpay_type=wechatpayv3.WeChatPayType.NATIVE,
        mchid=settings["MCHID"],
        private_key=settings["PRIVATE_KEY"],
        cert_serial_no=settings["MERCHANT_SERIAL_NO"],
        appid="wxsandboxtest",
        apiv3_key="0" * 32,
        public_key=settings["WECHATPAY_PUBLIC_KEY"],
        public_key_id=settings["WECHATPAY_PUBLIC_KEY_ID"],
    )
    pay._core._gate_way = settings["API_BASE_URL"]  # the SDK has no public option for the host
    path = tmp_path / "sdk.png"
    path.write_bytes(PNG)
    status, message = pay.complaint_image_upload(str(path))
    assert status == 200, message
    (upload,) = sandbox.uploads
    assert (upload.filename, upload.data, upload.media_id) == ("sdk.png", PNG, json.loads(message)["media_id"])
    assert set(sandbox.requests[0].notes) == {BOUNDARY_FROM_BODY, META_WITHOUT_CONTENT_TYPE}


_HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)


@fuzz(60)
@given(value=_HEADER_TEXT)
def test_meta_content_type_other_than_json_is_refused_absent_is_accepted(caller: Caller, value: str) -> None:
    """Only application/json (any case, parameters allowed) or no Content-Type at all: never a 500."""
    meta = meta_json("m.png", hashlib.sha256(PNG).hexdigest())
    body = multipart(meta, PNG, b"m.png").replace(
        b"Content-Type: application/json\r\n", b"Content-Type: " + value.encode() + b"\r\n", 1
    )
    response = caller.upload(body=body, meta=meta)
    is_json = value.strip().split(";", 1)[0].strip().lower() == "application/json"
    if is_json:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "PARAM_ERROR"
