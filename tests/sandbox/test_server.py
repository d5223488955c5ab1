"""The Sandbox facade: recording, settings, life cycle."""

from __future__ import annotations

import socket
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from django_wxpay_media.sandbox import Sandbox, SandboxKeys

from .apiv3 import (
    MCHID,
    PNG,
    UPLOAD,
    Caller,
)

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
    assert len(s["APIV3_KEY"]) == 32  # complaint notifications need it in every mode
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
