"""Injected faults: each kind, on any path, and their arguments checked."""

from __future__ import annotations

import secrets
import time

import pytest
import requests

from django_wxpay_media.sandbox import FAULT_KINDS, Sandbox

from .apiv3 import (
    MEDIA_ID,
    Caller,
    error_of,
    pem_public_key,
    verifies,
)

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
    with pytest.raises(ValueError, match="fault count must be a positive integer"):
        sandbox.add_fault("drop", count=0)
    assert set(FAULT_KINDS) == {
        "status", "delay", "drop", "forged_signature", "probe_signature", "stale_timestamp",
        "unknown_serial", "wrong_key", "missing_headers", "non_json", "rewrite_json",
    }  # fmt: skip
