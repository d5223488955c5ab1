"""One client shared by threads (as the batches share it): a rate limit pauses them all;
the environment (proxies) is read once, when the client is built, and still obeyed."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time

import pytest
import requests

from django_wxpay_media.wechatpay import errors
from tests.images import png_bytes

from .test_client import make_client

UPLOAD = "/v3/merchant-service/images/upload"


class RealSleeps:
    """Sleeps for real, and records who slept how long (thread name, seconds)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []
        self.first = threading.Event()

    def __call__(self, seconds: float) -> None:
        self.calls.append((threading.current_thread().name, seconds))
        self.first.set()
        time.sleep(seconds)

    def of(self, name: str) -> list[float]:
        return [seconds for who, seconds in self.calls if who == name]


def test_a_429_seen_by_one_thread_pauses_every_thread(wxpay_sandbox):
    wxpay_sandbox.add_fault(
        "status", status=429, code="FREQUENCY_LIMITED", message="slow down", headers={"Retry-After": "1"}
    )
    sleeps = RealSleeps()
    client = make_client(wxpay_sandbox, sleep=sleeps, deadline=30)
    results: dict[str, object] = {}

    def upload(name: str, seed: int, after_the_429: bool) -> None:
        if after_the_429:
            assert sleeps.first.wait(10)  # the first thread has its 429 and is pausing
        results[name] = client.upload_bytes(png_bytes(seed), f"{name}.png")

    threads = [threading.Thread(target=upload, args=("first", 900, False), name="first")]
    threads += [threading.Thread(target=upload, args=(f"w{n}", 901 + n, True), name=f"w{n}") for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    with client:
        assert sorted(results) == ["first", "w0", "w1", "w2"]
    assert len(wxpay_sandbox.uploads) == 4

    # The first thread waited Retry-After; each other thread waited out the rest of that pause...
    assert sleeps.of("first") == [1.0]
    for name in ("w0", "w1", "w2"):
        [pause] = sleeps.of(name)
        assert 0 < pause <= 1.0
    # ...so that nothing reached WeChat Pay during the pause, and only the first request got a 429.
    limited, *rest = wxpay_sandbox.requests
    assert limited.response_status == 429 and [r.response_status for r in rest] == [200] * 4
    pause_ends = limited.received_at + dt.timedelta(seconds=0.9)  # the 429 was answered after it arrived
    assert all(r.received_at >= pause_ends for r in rest)


def test_a_pause_past_the_deadline_fails_at_once_without_sending(wxpay_sandbox):
    wxpay_sandbox.add_fault(
        "status", status=429, code="FREQUENCY_LIMITED", message="slow down", headers={"Retry-After": "20"}
    )
    sleeps = RealSleeps()
    with make_client(wxpay_sandbox, sleep=sleeps, deadline=5) as client:
        with pytest.raises(errors.FrequencyLimitedError) as first:
            client.upload_bytes(png_bytes(910), "a.png")  # no time left to wait 20 s
        assert first.value.status == 429
        with pytest.raises(errors.FrequencyLimitedError) as second:
            client.upload_bytes(png_bytes(911), "b.png")  # another caller, during the pause
    assert second.value.status is None and second.value.retry_after > 15
    assert len(wxpay_sandbox.requests) == 1  # the second one was never sent
    assert sleeps.calls == []


class RecordingProxy:
    """A plain HTTP proxy stand-in on loopback: records each request line, answers 502."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.lines: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                self.lines.append(data.split(b"\r\n", 1)[0])
                conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def proxy_environment(monkeypatch):
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    proxy = RecordingProxy()
    yield proxy, monkeypatch
    proxy.close()


def test_a_proxy_from_the_environment_is_used(wxpay_sandbox, proxy_environment):
    proxy, env = proxy_environment
    env.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    with make_client(wxpay_sandbox, max_retries=0) as client:
        env.delenv("HTTP_PROXY")  # read when the client was built, not per request
        with pytest.raises(errors.WeChatPayError):
            client.upload_bytes(png_bytes(920), "a.png")
    assert proxy.lines == [f"POST {wxpay_sandbox.base_url}{UPLOAD} HTTP/1.1".encode()]
    assert wxpay_sandbox.requests == []


def test_no_proxy_from_the_environment_is_obeyed(wxpay_sandbox, proxy_environment):
    proxy, env = proxy_environment
    env.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    env.setenv("NO_PROXY", "127.0.0.1")
    with make_client(wxpay_sandbox) as client:
        assert client.upload_bytes(png_bytes(921), "a.png").media_id
    assert proxy.lines == [] and len(wxpay_sandbox.uploads) == 1


def test_a_session_given_is_used_as_configured(wxpay_sandbox, proxy_environment):
    """Its hooks run and it reads the environment per request, as requests does."""
    proxy, env = proxy_environment
    session = requests.Session()
    seen = []
    session.hooks["response"].append(lambda response, **kwargs: seen.append(response.status_code))
    with make_client(wxpay_sandbox, session=session, max_retries=0) as client:
        assert client.upload_bytes(png_bytes(930), "a.png").media_id
        env.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")  # after the client was built
        with pytest.raises(errors.WeChatPayError):
            client.upload_bytes(png_bytes(931), "b.png")
    assert seen == [200, 502]
    assert len(proxy.lines) == 1 and len(wxpay_sandbox.uploads) == 1
