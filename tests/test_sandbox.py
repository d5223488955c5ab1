"""Tests of the sandbox itself, over a real socket.

Requests are signed here with :mod:`cryptography` directly (never with
``django_wxpay_media.wechatpay``): the sandbox is the client's independent
counterpart, so its tests must not lean on the client.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import functools
import hashlib
import json
import os
import re
import secrets
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from urllib3.util import SKIP_HEADER

from django_wxpay_media.sandbox import FAULT_KINDS, Sandbox, SandboxKeys
from django_wxpay_media.sandbox import pytest_plugin as _plugin
from django_wxpay_media.sandbox.multipart import MultipartError, parse_multipart

# The plugin's fixtures, bound here so that this module works whether or not the
# package (and with it the pytest11 entry point) is installed.
wxpay_sandbox = _plugin.wxpay_sandbox
wxpay_sandbox_factory = _plugin.wxpay_sandbox_factory
wxpay_sandbox_keys = _plugin.wxpay_sandbox_keys

UPLOAD = "/v3/merchant-service/images/upload"
CERTS = "/v3/certificates"
MCHID = "1900000001"
BOUNDARY = "sandbox-test-boundary-7f3a"
MEDIA_ID = re.compile(r"^[0-9A-F]{32}\.(jpg|png|bmp)$")

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(200))
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(200))
BMP = b"BM" + (300).to_bytes(4, "little") + b"\x00" * 8 + (40).to_bytes(4, "little") + bytes(100)


# --- an independent request signer -----------------------------------------------------------


def _b64sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


@functools.lru_cache(maxsize=8)
def _load_private(pem: str) -> rsa.RSAPrivateKey:  # cached: loading checks the key (~60 ms)
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def authorization(
    keys: SandboxKeys,
    method: str,
    url: str,
    signed_body: bytes,
    *,
    mchid: str = MCHID,
    timestamp: int | None = None,
    nonce: str | None = None,
    serial: str | None = None,
) -> str:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(16).upper()
    message = f"{method}\n{url}\n{ts}\n{nonce}\n".encode() + signed_body + b"\n"
    signature = _b64sign(_load_private(keys.merchant_private_key_pem), message)
    return (
        f'WECHATPAY2-SHA256-RSA2048 mchid="{mchid}",nonce_str="{nonce}",timestamp="{ts}",'
        f'serial_no="{serial or keys.merchant_serial_no}",signature="{signature}"'
    )


def meta_json(filename: str, digest: str) -> bytes:
    return json.dumps({"filename": filename, "sha256": digest}, ensure_ascii=False, separators=(",", ":")).encode()


def multipart(
    meta: bytes, data: bytes, header_filename: bytes, *, boundary: str = BOUNDARY, file_type: bytes = b"image/png"
) -> bytes:
    dash = b"--" + boundary.encode()
    return b"".join(
        [
            dash + b"\r\n",
            b'Content-Disposition: form-data; name="meta"\r\n',
            b"Content-Type: application/json\r\n\r\n",
            meta + b"\r\n",
            dash + b"\r\n",
            b'Content-Disposition: form-data; name="file"; filename="' + header_filename + b'"\r\n',
            b"Content-Type: " + file_type + b"\r\n\r\n",
            data + b"\r\n",
            dash + b"--\r\n",
        ]
    )


class Caller:
    """A minimal, deliberately explicit APIv3 caller for the tests."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.keys = sandbox.keys
        self.session = requests.Session()

    def close(self) -> None:
        self.session.close()

    def upload(
        self,
        data: bytes = PNG,
        filename: str = "photo.png",
        *,
        digest: str | None = None,
        meta: bytes | None = None,
        header_filename: bytes | None = None,
        body: bytes | None = None,
        signed_body: bytes | None = None,
        headers: dict[str, Any] | None = None,
        timeout: float = 10,
        **auth: Any,
    ) -> requests.Response:
        meta = meta if meta is not None else meta_json(filename, digest or hashlib.sha256(data).hexdigest())
        if header_filename is None:
            header_filename = filename.encode("utf-8")
        body = body if body is not None else multipart(meta, data, header_filename)
        all_headers: dict[str, Any] = {
            "Authorization": authorization(
                self.keys, "POST", UPLOAD, meta if signed_body is None else signed_body, **auth
            ),
            "Accept": "application/json",
            "User-Agent": "sandbox-tests/1.0",
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        }
        all_headers.update(headers or {})
        return self.session.post(self.sandbox.base_url + UPLOAD, data=body, headers=all_headers, timeout=timeout)

    def certificates(self, *, headers: dict[str, Any] | None = None, **auth: Any) -> requests.Response:
        all_headers: dict[str, Any] = {
            "Authorization": authorization(self.keys, "GET", CERTS, b"", **auth),
            "Accept": "application/json",
            "User-Agent": "sandbox-tests/1.0",
        }
        all_headers.update(headers or {})
        return self.session.get(self.sandbox.base_url + CERTS, headers=all_headers, timeout=10)


def verifies(response: requests.Response, public_key: rsa.RSAPublicKey) -> bool:
    """APIv3 answer verification: RSA-SHA256 over ``ts\\nnonce\\nbody\\n``."""
    ts = response.headers["Wechatpay-Timestamp"]
    nonce = response.headers["Wechatpay-Nonce"]
    try:
        signature = base64.b64decode(response.headers["Wechatpay-Signature"], validate=True)
    except ValueError:
        return False
    try:
        public_key.verify(
            signature, f"{ts}\n{nonce}\n".encode() + response.content + b"\n", padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature:
        return False
    return True


def pem_public_key(pem: str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def decrypt_certificates(response: requests.Response, apiv3_key: str) -> dict[str, x509.Certificate]:
    result = {}
    for item in response.json()["data"]:
        enc = item["encrypt_certificate"]
        assert enc["algorithm"] == "AEAD_AES_256_GCM"
        pem = AESGCM(apiv3_key.encode()).decrypt(
            enc["nonce"].encode(), base64.b64decode(enc["ciphertext"]), enc["associated_data"].encode()
        )
        result[item["serial_no"]] = x509.load_pem_x509_certificate(pem)
    return result


@pytest.fixture
def sandbox(wxpay_sandbox: Sandbox) -> Sandbox:
    return wxpay_sandbox


@pytest.fixture
def caller(sandbox: Sandbox) -> Iterator[Caller]:
    c = Caller(sandbox)
    yield c
    c.close()


@pytest.fixture
def make_caller() -> Iterator[Callable[[Sandbox], Caller]]:
    made: list[Caller] = []

    def make(sb: Sandbox) -> Caller:
        made.append(Caller(sb))
        return made[-1]

    yield make
    for c in made:
        c.close()


def error_of(response: requests.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["code"], body["message"]


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
    response._content = response.content.replace(b"media_id", b"media_iD")  # tampered: must not verify
    assert not verifies(response, public_key)

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


def test_chunked_request_body_is_accepted(sandbox: Sandbox, caller: Caller) -> None:
    meta = meta_json("c.png", hashlib.sha256(PNG).hexdigest())
    body = multipart(meta, PNG, b"c.png")
    headers = {
        "Authorization": authorization(sandbox.keys, "POST", UPLOAD, meta),
        "Accept": "application/json",
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
    }
    response = requests.post(
        sandbox.base_url + UPLOAD, data=iter([body[:100], body[100:]]), headers=headers, timeout=10
    )
    assert response.status_code == 200, response.text
    assert sandbox.uploads[0].data == PNG


# --- authentication -----------------------------------------------------------------------------


def test_signature_over_the_whole_multipart_body_is_refused(sandbox: Sandbox, caller: Caller) -> None:
    meta = meta_json("photo.png", hashlib.sha256(PNG).hexdigest())
    body = multipart(meta, PNG, b"photo.png")
    response = caller.upload(body=body, meta=meta, signed_body=body)
    assert error_of(response)[:2] == (401, "SIGN_ERROR")
    assert "Wechatpay-Signature" not in response.headers  # errors are unsigned by default
    assert response.headers["Request-ID"]
    assert sandbox.uploads == []
    assert sandbox.requests[0].response_code == "SIGN_ERROR"


def test_signature_by_another_key_is_refused(sandbox: Sandbox, caller: Caller) -> None:
    caller.keys = dataclasses.replace(sandbox.keys, merchant_private_key_pem=sandbox.keys.wechatpay_private_key_pem)
    assert error_of(caller.upload())[:2] == (401, "SIGN_ERROR")


def test_reused_nonce_is_refused(caller: Caller) -> None:
    assert caller.upload(nonce="ONCE0000000000000000000000000001").status_code == 200
    status, code, message = error_of(caller.upload(nonce="ONCE0000000000000000000000000001"))
    assert (status, code) == (401, "SIGN_ERROR")
    assert "nonce" in message


@pytest.mark.parametrize("offset", [-400, 400])
def test_timestamp_far_from_now_is_refused(caller: Caller, offset: int) -> None:
    status, code, message = error_of(caller.upload(timestamp=int(time.time()) + offset))
    assert (status, code) == (401, "SIGN_ERROR")
    assert "timestamp" in message


def test_timestamp_within_the_window_is_accepted(caller: Caller) -> None:
    assert caller.upload(timestamp=int(time.time()) - 240).status_code == 200


def test_wrong_mchid_and_wrong_serial_are_refused(sandbox: Sandbox, caller: Caller) -> None:
    status, code, message = error_of(caller.upload(mchid="1900000002"))
    assert (status, code) == (401, "SIGN_ERROR") and "mchid" in message
    status, code, message = error_of(caller.upload(serial="0" * 40))
    assert (status, code) == (401, "SIGN_ERROR") and "serial_no" in message
    assert sandbox.uploads == []


@pytest.mark.parametrize(
    "mangle",
    [
        lambda a: None,
        lambda a: a.replace("WECHATPAY2-SHA256-RSA2048", "Bearer"),
        lambda a: re.sub(r',signature="[^"]*"', "", a),
        lambda a: a + ',mchid="1900000001"',
        lambda a: a + ',extra="1"',
        lambda a: a.replace('signature="', 'signature="!!'),
        lambda a: a.replace('"', ""),
    ],
    ids=["missing", "scheme", "no-signature", "duplicate", "unknown-key", "bad-base64", "unquoted"],
)
def test_missing_or_garbled_authorization_is_refused(
    sandbox: Sandbox, caller: Caller, mangle: Callable[[str], str | None]
) -> None:
    meta = meta_json("photo.png", hashlib.sha256(PNG).hexdigest())
    auth = mangle(authorization(sandbox.keys, "POST", UPLOAD, meta))
    response = caller.upload(meta=meta, headers={"Authorization": auth})
    assert error_of(response)[:2] == (401, "SIGN_ERROR")


def test_authorization_pairs_in_any_order(sandbox: Sandbox, caller: Caller) -> None:
    meta = meta_json("photo.png", hashlib.sha256(PNG).hexdigest())
    scheme, params = authorization(sandbox.keys, "POST", UPLOAD, meta).split(" ", 1)
    reordered = scheme + " " + ",".join(reversed(params.split(",")))
    assert caller.upload(meta=meta, headers={"Authorization": reordered}).status_code == 200


@pytest.mark.parametrize(
    ("headers", "needle"),
    [
        ({"Accept": None}, "Accept"),
        ({"Accept": "text/html"}, "Accept"),
        ({"User-Agent": SKIP_HEADER}, "User-Agent"),  # None would let urllib3 add its own
        ({"User-Agent": ""}, "User-Agent"),
        ({"Content-Type": "application/octet-stream"}, "multipart/form-data"),
        ({"Content-Type": "multipart/form-data"}, "boundary"),
    ],
)
def test_required_headers(caller: Caller, headers: dict[str, Any], needle: str) -> None:
    status, code, message = error_of(caller.upload(headers=headers))
    assert (status, code) == (400, "PARAM_ERROR")
    assert needle in message


def test_accept_wildcards_are_compatible(caller: Caller) -> None:
    assert caller.upload(headers={"Accept": "*/*"}).status_code == 200
    assert caller.upload(headers={"Accept": "text/html, application/*;q=0.8"}).status_code == 200


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
        "meta-content-type": (good.replace(b"Content-Type: application/json\r\n", b""), "application/json"),
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
    ],
)
def test_bad_meta_json_is_refused(caller: Caller, meta: bytes, needle: str) -> None:
    if b"%s" in meta:
        meta = meta.replace(b"%s", hashlib.sha256(PNG).hexdigest().encode())
    status, code, message = error_of(caller.upload(meta=meta, header_filename=b"a.png"))
    assert (status, code) == (400, "PARAM_ERROR")
    assert needle in message


# --- faults ---------------------------------------------------------------------------------


def test_status_fault_unsigned_by_default_with_extra_headers(sandbox: Sandbox, caller: Caller) -> None:
    sandbox.add_fault("status", status=429, code="FREQUENCY_LIMITED", message="slow down", headers={"Retry-After": "1"})
    response = caller.upload()
    assert error_of(response) == (429, "FREQUENCY_LIMITED", "slow down")
    assert response.headers["Retry-After"] == "1"
    assert "Wechatpay-Signature" not in response.headers
    assert sandbox.uploads == []
    assert sandbox.requests[0].fault == "status"
    assert caller.upload().status_code == 200  # count=1: the next one is normal


def test_status_fault_signed(sandbox: Sandbox, caller: Caller) -> None:
    sandbox.add_fault("status", count=2, signed=True)
    responses = [caller.upload(), caller.upload(), caller.upload()]
    assert [r.status_code for r in responses] == [500, 500, 200]
    assert responses[0].json()["code"] == "SYSTEM_ERROR"
    assert verifies(responses[0], pem_public_key(sandbox.keys.wechatpay_public_key_pem))
    assert len(sandbox.uploads) == 1


def test_faulted_request_still_uses_its_nonce(caller: Caller, sandbox: Sandbox) -> None:
    sandbox.add_fault("status")
    nonce = secrets.token_hex(16)
    assert caller.upload(nonce=nonce).status_code == 500
    assert error_of(caller.upload(nonce=nonce))[:2] == (401, "SIGN_ERROR")


def test_delay_fault_times_the_client_out_but_the_upload_happens(sandbox: Sandbox, caller: Caller) -> None:
    sandbox.add_fault("delay", seconds=0.5)
    with pytest.raises(requests.Timeout):
        caller.upload(timeout=0.1)
    deadline = time.monotonic() + 10
    while not sandbox.uploads and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(sandbox.uploads) == 1
    assert sandbox.requests[0].fault == "delay"


def test_drop_fault_closes_without_answer(sandbox: Sandbox, caller: Caller) -> None:
    sandbox.add_fault("drop")
    with pytest.raises(requests.ConnectionError):
        caller.upload()
    (record,) = sandbox.requests
    assert (record.response_status, record.fault) == (None, "drop")
    assert sandbox.uploads == []


@pytest.mark.parametrize("kind", ["forged_signature", "probe_signature", "wrong_key"])
def test_bad_signature_faults(sandbox: Sandbox, caller: Caller, kind: str) -> None:
    sandbox.add_fault(kind)
    response = caller.upload()
    assert response.status_code == 200
    assert MEDIA_ID.match(response.json()["media_id"])
    assert response.headers["Wechatpay-Serial"] == sandbox.keys.wechatpay_public_key_id
    assert not verifies(response, pem_public_key(sandbox.keys.wechatpay_public_key_pem))
    if kind == "probe_signature":
        assert response.headers["Wechatpay-Signature"].startswith("WECHATPAY/SIGNTEST/")
    assert sandbox.uploads == []
    assert sandbox.issued_media_ids == {}


def test_stale_timestamp_fault(sandbox: Sandbox, caller: Caller) -> None:
    sandbox.add_fault("stale_timestamp", offset=-900)
    response = caller.upload()
    assert verifies(response, pem_public_key(sandbox.keys.wechatpay_public_key_pem))
    assert abs(int(response.headers["Wechatpay-Timestamp"]) - (time.time() - 900)) < 60
    assert sandbox.uploads == []


def test_unknown_serial_fault(sandbox: Sandbox, caller: Caller) -> None:
    sandbox.add_fault("unknown_serial")
    response = caller.upload()
    serial = response.headers["Wechatpay-Serial"]
    assert serial.startswith("PUB_KEY_ID_") and serial != sandbox.keys.wechatpay_public_key_id
    assert verifies(response, pem_public_key(sandbox.keys.wechatpay_public_key_pem))


def test_missing_headers_fault(sandbox: Sandbox, caller: Caller) -> None:
    sandbox.add_fault("missing_headers")
    response = caller.upload()
    assert response.status_code == 200 and "media_id" in response.json()
    assert not [h for h in response.headers if h.lower().startswith("wechatpay-")]
    assert response.headers["Request-ID"]
    sandbox.add_fault("missing_headers", omit=["Wechatpay-Signature"])
    response = caller.upload()
    assert "Wechatpay-Signature" not in response.headers and "Wechatpay-Serial" in response.headers


def test_non_json_fault(sandbox: Sandbox, caller: Caller) -> None:
    sandbox.add_fault("non_json")
    response = caller.upload()
    assert (response.status_code, response.text) == (502, "Bad Gateway")
    assert response.headers["Content-Type"].startswith("text/plain")
    assert sandbox.requests[0].response_code is None


def test_fault_on_any_path_and_validation_of_fault_arguments(sandbox: Sandbox) -> None:
    sandbox.add_fault("status", path=None, status=503)
    assert requests.get(sandbox.base_url + "/anything", timeout=5).status_code == 503
    with pytest.raises(ValueError, match="unknown fault kind"):
        sandbox.add_fault("explode")
    with pytest.raises(TypeError, match="seconds"):
        sandbox.add_fault("status", seconds=3)
    with pytest.raises(ValueError):
        sandbox.add_fault("drop", count=0)
    assert set(FAULT_KINDS) == {
        "status", "delay", "drop", "forged_signature", "probe_signature", "stale_timestamp",
        "unknown_serial", "wrong_key", "missing_headers", "non_json",
    }  # fmt: skip


# --- certificate and migration modes ------------------------------------------------------------


def test_certificate_mode_download_decrypt_and_verify(
    wxpay_sandbox_factory: Callable[..., Sandbox], make_caller: Callable[[Sandbox], Caller]
) -> None:
    sandbox = wxpay_sandbox_factory(mode="certificate")
    caller = make_caller(sandbox)
    response = caller.certificates()
    assert response.status_code == 200, response.text
    certs = decrypt_certificates(response, sandbox.keys.apiv3_key)
    assert set(certs) == {sandbox.keys.platform_certificate.serial_no}
    for serial, cert in certs.items():
        assert f"{cert.serial_number:X}" == serial and len(serial) == 40
    item = response.json()["data"][0]
    assert item["effective_time"].endswith("+08:00") and item["expire_time"].endswith("+08:00")
    assert len(item["encrypt_certificate"]["nonce"]) == 12
    signer = certs[response.headers["Wechatpay-Serial"]].public_key()
    assert isinstance(signer, rsa.RSAPublicKey) and verifies(response, signer)
    assert sandbox.certificate_downloads == 1

    upload = caller.upload()
    assert upload.status_code == 200
    assert upload.headers["Wechatpay-Serial"] == sandbox.keys.platform_certificate.serial_no
    assert verifies(upload, signer)
    assert not verifies(upload, pem_public_key(sandbox.keys.wechatpay_public_key_pem))


def test_certificate_download_is_authenticated(
    wxpay_sandbox_factory: Callable[..., Sandbox], make_caller: Callable[[Sandbox], Caller]
) -> None:
    sandbox = wxpay_sandbox_factory(mode="certificate")
    caller = make_caller(sandbox)
    meta = b"{}"
    bad = authorization(sandbox.keys, "GET", CERTS, meta)  # signed over a body that was not sent
    assert error_of(caller.certificates(headers={"Authorization": bad}))[:2] == (401, "SIGN_ERROR")
    assert error_of(caller.certificates(headers={"Accept": "text/html"}))[:2] == (400, "PARAM_ERROR")
    assert sandbox.certificate_downloads == 0


def test_no_certificates_in_public_key_mode(caller: Caller) -> None:
    assert error_of(caller.certificates())[:2] == (404, "NOT_FOUND")


def test_rotation_and_expired_certificates(
    wxpay_sandbox_factory: Callable[..., Sandbox], make_caller: Callable[[Sandbox], Caller]
) -> None:
    sandbox = wxpay_sandbox_factory(mode="certificate")
    caller = make_caller(sandbox)
    old = sandbox.keys.platform_certificate
    new = sandbox.rotate_certificate()
    expired = sandbox.add_expired_certificate()
    response = caller.certificates()
    listed = decrypt_certificates(response, sandbox.keys.apiv3_key)
    assert set(listed) == {old.serial_no, new.serial_no, expired.serial_no}
    expire_times = {i["serial_no"]: dt.datetime.fromisoformat(i["expire_time"]) for i in response.json()["data"]}
    assert expire_times[expired.serial_no] < dt.datetime.now(dt.UTC) < expire_times[new.serial_no]
    upload = caller.upload()
    assert upload.headers["Wechatpay-Serial"] == new.serial_no
    assert verifies(upload, listed[new.serial_no].public_key())  # type: ignore[arg-type]
    # The shared keys were not touched: another sandbox still signs with the old certificate.
    assert sandbox.keys.platform_certificates == (old,)


def test_both_mode_key_chosen_by_wechatpay_serial(
    wxpay_sandbox_factory: Callable[..., Sandbox], make_caller: Callable[[Sandbox], Caller]
) -> None:
    sandbox = wxpay_sandbox_factory(mode="both")
    caller = make_caller(sandbox)
    keys = sandbox.keys
    cert = keys.platform_certificate
    plain = caller.upload()
    assert plain.headers["Wechatpay-Serial"] == keys.wechatpay_public_key_id
    by_pub = caller.upload(headers={"Wechatpay-Serial": keys.wechatpay_public_key_id})
    assert by_pub.headers["Wechatpay-Serial"] == keys.wechatpay_public_key_id
    assert verifies(by_pub, pem_public_key(keys.wechatpay_public_key_pem))
    by_cert = caller.upload(headers={"Wechatpay-Serial": cert.serial_no})
    assert by_cert.headers["Wechatpay-Serial"] == cert.serial_no
    assert verifies(by_cert, cert.certificate.public_key())  # type: ignore[arg-type]
    assert not verifies(by_cert, pem_public_key(keys.wechatpay_public_key_pem))
    downloaded = caller.certificates()
    assert downloaded.status_code == 200 and downloaded.headers["Wechatpay-Serial"] == cert.serial_no


# --- recording, settings, life cycle -----------------------------------------------------------------


def test_every_request_is_recorded_in_order(sandbox: Sandbox, caller: Caller) -> None:
    requests.get(sandbox.base_url + "/v3/unknown?x=1", timeout=5)
    caller.upload(mchid="1")
    caller.upload()
    for raw_request in (b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n", b"POST /x HTTP/1.1\r\nContent-Length: 1x\r\n\r\n"):
        with socket.create_connection((sandbox.host, sandbox.port), timeout=5) as raw:
            raw.sendall(raw_request)
            answer = raw.recv(4096)
        assert answer.startswith((b"HTTP/1.1 501", b"HTTP/1.1 400")) and b'{"code":' in answer
    records = sandbox.requests
    assert [(r.method, r.path.split("?")[0], r.response_status, r.response_code) for r in records] == [
        ("GET", "/v3/unknown", 404, "NOT_FOUND"),
        ("POST", UPLOAD, 401, "SIGN_ERROR"),
        ("POST", UPLOAD, 200, None),
        ("BREW", "/pot", 501, "NOT_IMPLEMENTED"),
        ("POST", "/x", 400, "PARAM_ERROR"),
    ]
    assert records[1].headers["AUTHORIZATION"].startswith("WECHATPAY2-SHA256-RSA2048 ")
    assert b"photo.png" in records[2].body
    sandbox.add_fault("drop")
    sandbox.reset()
    assert sandbox.requests == [] and sandbox.uploads == [] and sandbox.pending_faults == []
    assert caller.upload().status_code == 200  # the fault was forgotten too


def test_oversized_body_is_refused_unread_and_the_connection_closed(sandbox: Sandbox) -> None:
    head = f"POST {UPLOAD} HTTP/1.1\r\nHost: x\r\nContent-Length: {9 * 1024 * 1024}\r\n\r\n".encode()
    with socket.create_connection((sandbox.host, sandbox.port), timeout=5) as raw:
        raw.sendall(head)
        answer = b""
        while chunk := raw.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413") and b"Connection: close" in answer
    assert sandbox.requests[0].response_status == 413


def test_concurrent_uploads(sandbox: Sandbox) -> None:
    results: list[requests.Response] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        c = Caller(sandbox)
        try:
            data = PNG + i.to_bytes(2, "big")
            response = c.upload(data, f"p{i}.png")
        finally:
            c.close()
        with lock:
            results.append(response)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r.status_code for r in results) == [200] * 12
    assert len({r.json()["media_id"] for r in results}) == 12
    assert sorted(u.filename for u in sandbox.uploads) == sorted(f"p{i}.png" for i in range(12))


def test_settings_per_mode(wxpay_sandbox_factory: Callable[..., Sandbox], tmp_path: Path) -> None:
    pub = wxpay_sandbox_factory(mode="public_key")
    s = pub.settings()
    assert s["API_BASE_URL"] == pub.base_url and s["MCHID"] == MCHID
    assert s["PRIVATE_KEY"] == pub.keys.merchant_private_key_pem
    assert s["WECHATPAY_PUBLIC_KEY_ID"].startswith("PUB_KEY_ID_01" + MCHID)
    assert "APIV3_KEY" not in s
    cert = wxpay_sandbox_factory(mode="certificate").settings()
    assert len(cert["APIV3_KEY"]) == 32 and "WECHATPAY_PUBLIC_KEY" not in cert
    both = wxpay_sandbox_factory(mode="both").settings(paths_dir=tmp_path)
    assert {"APIV3_KEY", "WECHATPAY_PUBLIC_KEY_ID", "PRIVATE_KEY_PATH", "WECHATPAY_PUBLIC_KEY_PATH"} <= set(both)
    assert "PRIVATE_KEY" not in both and "WECHATPAY_PUBLIC_KEY" not in both
    private = Path(both["PRIVATE_KEY_PATH"])
    assert private.read_text() == pub.keys.merchant_private_key_pem
    assert Path(both["WECHATPAY_PUBLIC_KEY_PATH"]).read_text() == pub.keys.wechatpay_public_key_pem
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert "PRIVATE" not in repr(pub.keys) and pub.keys.apiv3_key not in repr(pub.keys)


def test_stop_ends_keep_alive_connections_and_threads(wxpay_sandbox_keys: SandboxKeys) -> None:
    sandbox = Sandbox(keys=wxpay_sandbox_keys).start()
    port = sandbox.port
    session = requests.Session()
    assert session.get(sandbox.base_url + "/", timeout=5).status_code == 404  # connection kept open
    assert any(t.name.startswith(f"wxpay-sandbox-{port}") for t in threading.enumerate())
    sandbox.stop()
    assert not any(t.name.startswith(f"wxpay-sandbox-{port}") for t in threading.enumerate())
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    session.close()
    sandbox.stop()  # idempotent


def test_mode_is_checked() -> None:
    with pytest.raises(ValueError, match="mode"):
        Sandbox(mode="cert", keys=SandboxKeys.shared())


# --- the parser, property-based -----------------------------------------------------------------------

_names = st.text(
    alphabet=st.characters(
        min_codepoint=0x20, max_codepoint=0xFFFF, blacklist_categories=("Cs",), blacklist_characters='"\\\x7f'
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=_names, data=st.binary(max_size=300), meta_text=st.text(max_size=80))
def test_multipart_round_trip(name: str, data: bytes, meta_text: str) -> None:
    meta = meta_text.encode("utf-8")
    body = multipart(meta, data, name.encode("utf-8"))
    if (b"\r\n--" + BOUNDARY.encode()) in (b"\r\n" + meta + b"\r\n" + data):
        return  # the boundary occurs in the content: no parser can help that
    meta_part, file_part = parse_multipart(body, BOUNDARY)
    assert (meta_part.name, meta_part.content, meta_part.filename) == ("meta", meta, None)
    assert (file_part.name, file_part.content, file_part.filename) == ("file", data, name)


@given(st.binary(max_size=200))
@settings(max_examples=100, deadline=None)
def test_multipart_parser_never_crashes(body: bytes) -> None:
    try:
        parse_multipart(body, BOUNDARY)
    except MultipartError:
        pass


# --- the command line -------------------------------------------------------------------------


def test_cli_prints_settings_serves_logs_and_exits_cleanly(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "django_wxpay_media.sandbox",
            "--port",
            "0",
            "--mode",
            "both",
            "--keys-dir",
            str(keys_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("}"):
                break
        snippet = "".join(lines)
        namespace: dict[str, Any] = {}
        exec(snippet, namespace)  # noqa: S102 - it is meant to be pasted into settings.py
        conf = namespace["WXPAY_MEDIA"]
        assert {"PRIVATE_KEY_PATH", "WECHATPAY_PUBLIC_KEY_PATH", "WECHATPAY_PUBLIC_KEY_ID", "APIV3_KEY"} <= set(conf)
        assert "PRIVATE_KEY" not in conf
        assert stat.S_IMODE(Path(conf["PRIVATE_KEY_PATH"]).stat().st_mode) == 0o600
        keys = SandboxKeys.load(keys_dir)
        assert keys.merchant_serial_no == conf["MERCHANT_SERIAL_NO"]
        url = conf["API_BASE_URL"]
        assert requests.get(url + "/nowhere", timeout=5).status_code == 404
        meta = meta_json("cli.png", hashlib.sha256(PNG).hexdigest())
        response = requests.post(
            url + UPLOAD,
            data=multipart(meta, PNG, b"cli.png"),
            headers={
                "Authorization": authorization(keys, "POST", UPLOAD, meta, mchid=conf["MCHID"]),
                "Accept": "application/json",
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            },
            timeout=5,
        )
        assert response.status_code == 200, response.text
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert "GET /nowhere 404 NOT_FOUND" in stderr
    assert f"POST {UPLOAD} 200 -" in stderr
    assert "PRIVATE KEY" not in stderr and keys.apiv3_key not in stderr


def test_cli_default_keys_dir_is_removed_on_sigterm() -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "django_wxpay_media.sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        snippet = ""
        for line in proc.stdout:
            snippet += line
            if line.startswith("}"):
                break
        namespace: dict[str, Any] = {}
        exec(snippet, namespace)  # noqa: S102
        key_path = Path(namespace["WXPAY_MEDIA"]["PRIVATE_KEY_PATH"])
        assert key_path.exists() and "APIV3_KEY" not in namespace["WXPAY_MEDIA"]
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert not key_path.parent.exists()
