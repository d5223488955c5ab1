"""HTTP plumbing: the listening server, its connections and one request handler.

It reads a request (Content-Length or chunked, within the API's size limit), hands it
to :meth:`.api.Api.answer`, writes the answer and records the exchange — each
:class:`ReceivedRequest` is built in :meth:`_Handler._exchange_done` only.
"""

from __future__ import annotations

import contextlib
import secrets
import selectors
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .answers import Answer, error_answer
from .api import Api, ApiRequest
from .records import Headers, ReceivedRequest

__all__ = ["SandboxHTTPServer"]


class _BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Disconnected(Exception):
    pass


class SandboxHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer serving ``api`` that tracks its connections so that stop can end them."""

    daemon_threads = True
    block_on_close = False  # we join our own connection threads in close_connections()
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], api: Api) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.api = api
        self._conn_lock = threading.Lock()
        self._connections: dict[socket.socket, threading.Thread] = {}
        # Before binding: a failed bind calls server_close(), which closes these too.
        self._wake_r, self._wake_w = socket.socketpair()
        super().__init__(address, _Handler)

    def serve(self) -> None:
        """Accept connections until :meth:`wake` (no polling: stop is immediate)."""
        with selectors.DefaultSelector() as selector:
            selector.register(self, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while True:
                events = selector.select()
                if any(key.fileobj is self._wake_r for key, _ in events):
                    return
                self._handle_request_noblock()  # type: ignore[attr-defined]

    def wake(self) -> None:
        """Make :meth:`serve` return."""
        with contextlib.suppress(OSError):  # already closed
            self._wake_w.send(b"x")

    def server_close(self) -> None:
        super().server_close()
        self._wake_r.close()
        self._wake_w.close()

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._process,
            args=(request, client_address),
            name=f"wxpay-sandbox-{self.server_address[1]}-conn",
            daemon=True,
        )
        with self._conn_lock:
            self._connections[request] = thread
        thread.start()

    def _process(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - as socketserver does: report, keep serving
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._conn_lock:
                self._connections.pop(request, None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)) or self.api.stopping.is_set():
            return  # the client went away, or we are closing its connection
        super().handle_error(request, client_address)

    def close_connections(self, timeout: float) -> None:
        """Shut every open connection down and wait for its thread."""
        with self._conn_lock:
            items = list(self._connections.items())
        for sock, _ in items:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for _, thread in items:
            thread.join(max(0.0, deadline - time.monotonic()))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "WechatPaySandbox/1"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are closed after this many seconds
    disable_nagle_algorithm = True
    server: SandboxHTTPServer

    def handle_one_request(self) -> None:
        # Nothing of the previous request on this connection may leak into send_error().
        self.headers = None  # type: ignore[assignment]
        self.command = ""
        self.path = ""
        super().handle_one_request()

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the sandbox records requests and reports them through ``on_request``."""

    def do_GET(self) -> None:
        self._exchange()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def _read_body(self) -> bytes:
        limit = self.server.api.max_body_size
        encoding = self.headers.get("Transfer-Encoding")
        lengths = self.headers.get_all("Content-Length") or []
        if encoding is not None:
            if encoding.strip().lower() != "chunked" or lengths:
                raise _BodyError(
                    400,
                    "only Transfer-Encoding: chunked (without Content-Length) is understood",
                )
            return self._read_chunked(limit)
        if not lengths:
            return b""
        if len(lengths) > 1 or not lengths[0].strip().isdigit():
            raise _BodyError(400, "Content-Length is malformed")
        length = int(lengths[0])
        if length > limit:
            raise _BodyError(
                413,
                f"request body of {length} bytes is larger than the sandbox accepts ({limit})",
            )
        body = self.rfile.read(length)
        if len(body) < length:
            raise _Disconnected()
        return body

    def _read_chunked(self, limit: int) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            if not line:
                raise _Disconnected()
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _BodyError(400, "malformed chunk size") from None
            if size == 0:
                while True:  # trailers
                    trailer = self.rfile.readline(8192)
                    if trailer in (b"\r\n", b"\n", b""):
                        return b"".join(chunks)
            total += size
            if total > limit:
                raise _BodyError(413, f"request body is larger than the sandbox accepts ({limit})")
            data = self.rfile.read(size)
            if len(data) < size:
                raise _Disconnected()
            chunks.append(data)
            if self.rfile.read(2) != b"\r\n":
                raise _BodyError(400, "chunk not followed by CRLF")

    def _exchange(self) -> None:
        request = ApiRequest(
            method=self.command,
            target=self.path,
            headers=Headers(self.headers.items()),
            body=b"",
            request_id=secrets.token_hex(20).upper(),
        )
        fault: str | None = None
        try:
            request.body = self._read_body()
        except _Disconnected:
            self._exchange_done(request, None, None)
            return
        except _BodyError as error:
            answer = error_answer(error.status, "PARAM_ERROR", error.message)
            answer.close = True
        else:
            answer, fault = self.server.api.answer(request)
        self._exchange_done(request, answer, fault)

    def _exchange_done(self, request: ApiRequest, answer: Answer | None, fault: str | None) -> None:
        """Record the exchange and write the answer (``None`` or a dropping answer: close)."""
        out: list[tuple[str, str]] = []
        if answer is not None and answer.status is not None:
            out = [("Server", self.version_string()), ("Date", self.date_time_string())]
            if answer.status != 204:  # a 204 has neither body nor Content-Length (RFC 9110)
                out += [
                    ("Content-Type", answer.content_type),
                    ("Content-Length", str(len(answer.body))),
                ]
            out += [("Request-ID", request.request_id), *answer.headers]
            if answer.close:
                out.append(("Connection", "close"))
        answered = answer is not None and answer.status is not None
        self.server.api.record(
            ReceivedRequest(
                client_port=self.client_address[1],
                method=request.method,
                path=request.target,
                headers=request.headers,
                body=request.body,
                response_status=answer.status if answer else None,
                response_code=answer.code if answer else None,
                response_message=answer.message if answer else None,
                response_headers=Headers(out),
                response_body=answer.body if answered and answer else b"",
                request_id=request.request_id if answer is None or answered else None,
                fault=fault,
                notes=tuple(answer.notes) if answer else (),
            )
        )
        if answer is None or answer.status is None:
            self.close_connection = True
            return
        try:
            self.send_response_only(answer.status)
            for name, value in out:
                self.send_header(name, value)
            # Head and body in one write: no Nagle/delayed-ACK stall between them.
            self._headers_buffer.append(b"\r\n" + answer.body)  # type: ignore[attr-defined]
            self.flush_headers()
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed HTTP (bad request line, unsupported method…): JSON answer, recorded, closed."""
        headers = Headers(self.headers.items()) if getattr(self, "headers", None) is not None else Headers()
        text = message or self.responses.get(code, ("Error",))[0]
        answer = error_answer(code, "PARAM_ERROR" if code < 500 else "NOT_IMPLEMENTED", text)
        answer.close = True
        method = self.command or ""
        if method == "HEAD":
            answer.body = b""
        request = ApiRequest(
            method=method,
            target=getattr(self, "path", "") or "",
            headers=headers,
            body=b"",
            request_id=secrets.token_hex(20).upper(),
        )
        self._exchange_done(request, answer, None)
