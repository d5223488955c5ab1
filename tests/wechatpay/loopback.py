"""A tiny scripted HTTP server on loopback, for answers the sandbox cannot give.

Used where the sandbox has no such endpoint or fault yet (the image download,
a signed 204, a trickling answer, a redirect, hostile bodies). Each test says what
the server answers; the client still talks to it over a real socket. The answers
are signed here with the sandbox's throwaway WeChat Pay key, independently of the
client's code.
"""

from __future__ import annotations

import base64
import functools
import secrets
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

REASONS = {200: "OK", 204: "No Content", 307: "Temporary Redirect", 400: "Bad Request", 500: "Internal Server Error"}


@dataclass
class Received:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    """One answer: status, headers and body, written in ``pieces`` (with ``pause`` seconds between)."""

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    pause: float = 0.0
    pieces: int = 1
    drop: bool = False  # close without answering
    content_length: bool = True


class Loopback:
    """``Loopback(handler)``: ``handler(Received) -> Reply`` answers each request."""

    def __init__(self, handler: Callable[[Received], Reply]) -> None:
        self.handler = handler
        self.received: list[Received] = []
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    method, target, _ = line.decode("latin-1").split(" ", 2)
                    headers: dict[str, str] = {}
                    while True:
                        raw = self.rfile.readline().decode("latin-1")
                        if raw in ("\r\n", "\n", ""):
                            break
                        name, _, value = raw.partition(":")
                        headers[name.strip().lower()] = value.strip()
                    body = self.rfile.read(int(headers.get("content-length", "0")))
                    received = Received(method, target, headers, body)
                    outer.received.append(received)
                    reply = outer.handler(received)
                    if reply.drop:
                        return
                    self._write(reply)

            def _write(self, reply: Reply) -> None:
                head = [f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'X')}"]
                head += [f"{k}: {v}" for k, v in reply.headers]
                if reply.content_length:
                    head.append(f"Content-Length: {len(reply.body)}")
                else:
                    head.append("Connection: close")
                data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
                if reply.pieces == 1:  # head and body in one write: no Nagle/delayed-ACK stall
                    self.wfile.write(data + reply.body)
                    self.wfile.flush()
                    if not reply.content_length:
                        self.connection.shutdown(socket.SHUT_WR)
                    return
                self.wfile.write(data)
                self.wfile.flush()
                size = max(1, -(-len(reply.body) // reply.pieces))
                for start in range(0, len(reply.body), size):
                    if reply.pause and start:
                        time.sleep(reply.pause)
                    try:
                        self.wfile.write(reply.body[start : start + size])
                        self.wfile.flush()
                    except OSError:
                        return
                if not reply.content_length:
                    self.connection.shutdown(socket.SHUT_WR)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Loopback:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@functools.lru_cache(maxsize=8)
def _private_key(pem: str) -> Any:
    return serialization.load_pem_private_key(pem.encode(), password=None)  # loading costs ~60 ms: once


def signature_headers(
    private_key_pem: str, serial: str, body: bytes, timestamp: int | None = None
) -> list[tuple[str, str]]:
    """WeChat Pay's signature headers over ``body``, made with the given key."""
    key = _private_key(private_key_pem)
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = secrets.token_hex(16)
    message = f"{ts}\n{nonce}\n".encode() + body + b"\n"
    signature = base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()
    return [
        ("Request-ID", "LOOPBACK-" + secrets.token_hex(8)),
        ("Wechatpay-Timestamp", ts),
        ("Wechatpay-Nonce", nonce),
        ("Wechatpay-Serial", serial),
        ("Wechatpay-Signature", signature),
        ("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048"),
    ]
