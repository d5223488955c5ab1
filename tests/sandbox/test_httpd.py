"""HTTP plumbing: framing, limits, malformed HTTP, recording and connections."""

from __future__ import annotations

import hashlib
import socket
import threading
import time

import pytest
import requests

from django_wxpay_media.sandbox import Sandbox, SandboxKeys

from .apiv3 import BOUNDARY, PNG, UPLOAD, Caller, authorization, meta_json, multipart


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


def test_stop_ends_keep_alive_connections_and_threads(wxpay_sandbox_keys: SandboxKeys) -> None:
    sandbox = Sandbox(keys=wxpay_sandbox_keys).start()
    port = sandbox.port
    session = requests.Session()
    assert session.get(sandbox.base_url + "/", timeout=5).status_code == 404  # connection kept open
    assert any(t.name.startswith(f"wxpay-sandbox-{port}") for t in threading.enumerate())
    sandbox.stop()
    assert not any(t.name.startswith(f"wxpay-sandbox-{port}") for t in threading.enumerate())
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    session.close()
    sandbox.stop()  # idempotent


def test_a_client_gone_mid_body_is_recorded_without_an_answer(sandbox: Sandbox) -> None:
    with socket.create_connection((sandbox.host, sandbox.port), timeout=5) as raw:
        raw.sendall(f"POST {UPLOAD} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial".encode())
    for _ in range(500):  # the server notices the close on its own thread
        if sandbox.requests:
            break
        time.sleep(0.01)
    (record,) = sandbox.requests
    assert (record.method, record.path, record.response_status, record.body) == ("POST", UPLOAD, None, b"")
    assert record.request_id  # an id, though nothing was answered
    assert sandbox.uploads == []


def test_chunked_body_over_the_limit_is_refused(wxpay_sandbox_keys: SandboxKeys) -> None:
    with Sandbox(keys=wxpay_sandbox_keys, max_body_size=1000) as sandbox:
        response = requests.post(sandbox.base_url + UPLOAD, data=iter([b"x" * 600, b"x" * 600]), timeout=10)
        assert response.status_code == 413 and response.json()["code"] == "PARAM_ERROR"
        assert response.headers["Connection"] == "close"
