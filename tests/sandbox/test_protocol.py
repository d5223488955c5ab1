"""Request authentication: Authorization, signature, nonce, clock, required headers."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from urllib3.util import SKIP_HEADER

from django_wxpay_media.sandbox import Sandbox

from .apiv3 import (
    PNG,
    UPLOAD,
    Caller,
    authorization,
    error_of,
    meta_json,
    multipart,
)

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
        ({"Content-Type": "multipart/form-data; boundary=not-the-one"}, "boundary"),
    ],
)
def test_required_headers(caller: Caller, headers: dict[str, Any], needle: str) -> None:
    status, code, message = error_of(caller.upload(headers=headers))
    assert (status, code) == (400, "PARAM_ERROR")
    assert needle in message


def test_accept_wildcards_are_compatible(caller: Caller) -> None:
    assert caller.upload(headers={"Accept": "*/*"}).status_code == 200
    assert caller.upload(headers={"Accept": "text/html, application/*;q=0.8"}).status_code == 200
