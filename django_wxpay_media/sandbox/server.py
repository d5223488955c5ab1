"""The sandbox server: a strict stand-in for WeChat Pay APIv3 on loopback.

It serves ``POST /v3/merchant-service/images/upload`` and ``GET /v3/certificates``
over plain HTTP/1.1 (keep-alive) with :class:`http.server.ThreadingHTTPServer`,
checks requests as strictly as WeChat Pay documents, signs its answers, records
everything it receives and can be told to misbehave (:meth:`Sandbox.add_fault`).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import secrets
import selectors
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import rsa

from .faults import UPLOAD_PATH, Fault
from .keys import DEFAULT_MCHID, PlatformCertificate, SandboxKeys, new_rsa_key
from .multipart import MultipartError, parse_boundary, parse_multipart
from .protocol import (
    AUTH_SCHEME,
    ApiError,
    Authorization,
    check_accept,
    check_clock,
    check_user_agent,
    encrypt_certificate,
    new_nonce,
    param_error,
    parse_authorization,
    response_signing_string,
    sign,
    sign_error,
    signing_string,
    verify,
)
from .records import Headers, ReceivedRequest, UploadedImage
from .upload import detect_format, meta_text, split_parts, validate_upload

__all__ = ["CERTIFICATES_PATH", "MODES", "UPLOAD_PATH", "Sandbox"]

CERTIFICATES_PATH = "/v3/certificates"
MODES = ("public_key", "certificate", "both")
#: Larger bodies are refused with 413 without being read (the API takes 2 MB files).
DEFAULT_MAX_BODY = 8 * 1024 * 1024
_CST = dt.timezone(dt.timedelta(hours=8))
_JSON = "application/json; charset=utf-8"

_stranger_key: list[rsa.RSAPrivateKey] = []
_stranger_lock = threading.Lock()


def _stranger() -> rsa.RSAPrivateKey:
    """An RSA key nobody trusts (for the ``wrong_key`` fault); one per process."""
    with _stranger_lock:
        if not _stranger_key:
            _stranger_key.append(new_rsa_key())
        return _stranger_key[0]


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _rfc3339(when: dt.datetime) -> str:
    return when.astimezone(_CST).replace(microsecond=0).isoformat()


@dataclass
class _Answer:
    """An answer before it is written: ``status=None`` means drop the connection."""

    status: int | None
    body: bytes = b""
    content_type: str = _JSON
    headers: list[tuple[str, str]] = field(default_factory=list)
    code: str | None = None
    message: str | None = None
    close: bool = False


class Sandbox:
    """A local WeChat Pay APIv3 stand-in for the image upload API.

    ``mode`` decides which key signs answers: ``"public_key"`` (the WeChat Pay public
    key, serial ``PUB_KEY_ID_…``), ``"certificate"`` (the newest valid platform
    certificate; ``GET /v3/certificates`` serves them encrypted with the APIv3 key) or
    ``"both"`` (migration: the request's ``Wechatpay-Serial`` header chooses; the
    public key when absent). ``keys`` default to a freshly generated
    :class:`SandboxKeys`; tests should pass :meth:`SandboxKeys.shared`.

    Use as a context manager (``with Sandbox() as sb: …``) or call :meth:`start`
    and :meth:`stop`. ``on_request`` is called with each :class:`ReceivedRequest`
    after it is recorded (the CLI logs with it).
    """

    def __init__(
        self,
        mode: str = "public_key",
        host: str = "127.0.0.1",
        port: int = 0,
        keys: SandboxKeys | None = None,
        mchid: str = DEFAULT_MCHID,
        *,
        on_request: Callable[[ReceivedRequest], None] | None = None,
        max_body_size: int = DEFAULT_MAX_BODY,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.mode = mode
        self.host = host
        self.mchid = str(mchid)
        self.keys = keys if keys is not None else SandboxKeys.generate(self.mchid)
        self.on_request = on_request
        self.max_body_size = max_body_size
        self._requested_port = port
        self._lock = threading.RLock()
        self._certificates: list[PlatformCertificate] = list(self.keys.platform_certificates)
        self._requests: list[ReceivedRequest] = []
        self._uploads: list[UploadedImage] = []
        self._faults: list[Fault] = []
        self._nonces: set[str] = set()
        self._issued: dict[str, str] = {}
        self._certificate_downloads = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def __repr__(self) -> str:
        where = self.base_url if self._server else "not running"
        return f"<Sandbox mode={self.mode} mchid={self.mchid} {where}>"

    # Life cycle ----------------------------------------------------------------------

    def start(self) -> Self:
        """Bind the socket and serve in a daemon thread; returns ``self``."""
        if self._server is not None:
            raise RuntimeError("the sandbox is already running")
        self._stopping.clear()
        server = _Server((self.host, self._requested_port), self)
        thread = threading.Thread(
            target=server.serve,
            name=f"wxpay-sandbox-{server.server_address[1]}",
            daemon=True,
        )
        self._server, self._thread = server, thread
        thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving: close the listening socket and every open connection, join threads.

        Safe to call more than once.
        """
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()  # wakes "delay" faults
        server.wake()
        if thread is not None:
            thread.join(timeout)
        server.server_close()
        server.close_connections(timeout)
        self._server, self._thread = None, None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The bound port (useful with ``port=0``)."""
        if self._server is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running sandbox (``API_BASE_URL``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # Configuration for clients --------------------------------------------------------

    def settings(self, paths_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
        """A ``WXPAY_MEDIA`` settings dict pointing at this sandbox.

        With ``paths_dir`` the PEM files are written there (mode 0600) and the dict
        names them (``PRIVATE_KEY_PATH``, ``WECHATPAY_PUBLIC_KEY_PATH``) instead of
        holding the PEM text.
        """
        keys = self.keys
        result: dict[str, Any] = {"MCHID": self.mchid, "MERCHANT_SERIAL_NO": keys.merchant_serial_no}
        uses_public_key = self.mode in ("public_key", "both")
        if paths_dir is not None:
            paths = keys.write_pem_files(paths_dir)
            result["PRIVATE_KEY_PATH"] = str(paths["PRIVATE_KEY_PATH"])
            if uses_public_key:
                result["WECHATPAY_PUBLIC_KEY_PATH"] = str(paths["WECHATPAY_PUBLIC_KEY_PATH"])
        else:
            result["PRIVATE_KEY"] = keys.merchant_private_key_pem
            if uses_public_key:
                result["WECHATPAY_PUBLIC_KEY"] = keys.wechatpay_public_key_pem
        if uses_public_key:
            result["WECHATPAY_PUBLIC_KEY_ID"] = keys.wechatpay_public_key_id
        if self.mode in ("certificate", "both"):
            result["APIV3_KEY"] = keys.apiv3_key
        result["API_BASE_URL"] = self.base_url
        return result

    # What happened -----------------------------------------------------------------------

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Every request that reached the server (any path, accepted or not), in order (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def uploads(self) -> list[UploadedImage]:
        """Every accepted upload, in order (a copy). Faulted requests create none."""
        with self._lock:
            return list(self._uploads)

    @property
    def certificate_downloads(self) -> int:
        """How many ``GET /v3/certificates`` were answered normally (200)."""
        with self._lock:
            return self._certificate_downloads

    @property
    def issued_media_ids(self) -> dict[str, str]:
        """Every media_id ever issued by this sandbox, mapped to the file's sha256 (a copy)."""
        with self._lock:
            return dict(self._issued)

    @property
    def certificates(self) -> list[PlatformCertificate]:
        """The platform certificates listed by ``GET /v3/certificates`` (a copy)."""
        with self._lock:
            return list(self._certificates)

    @property
    def pending_faults(self) -> list[Fault]:
        """Faults still queued (a copy)."""
        with self._lock:
            return list(self._faults)

    def reset(self) -> None:
        """Forget requests, uploads, queued faults, seen nonces and the download count.

        Keys, certificates (rotated ones included) and issued media ids stay.
        """
        with self._lock:
            self._requests.clear()
            self._uploads.clear()
            self._faults.clear()
            self._nonces.clear()
            self._certificate_downloads = 0

    # Steering ----------------------------------------------------------------------------

    def add_fault(self, kind: str, count: int = 1, path: str | None = UPLOAD_PATH, **opts: Any) -> Fault:
        """Queue a fault for the next ``count`` requests to ``path`` (``None``: any path).

        Kinds and options (defaults in brackets):

        * ``status``: answer ``status`` [500] with ``{"code": code ["SYSTEM_ERROR"],
          "message": message}``; ``signed`` [False] adds valid signature headers;
          ``headers`` [None] a dict of extra headers (e.g. ``{"Retry-After": "1"}``).
        * ``delay``: sleep ``seconds`` [1.0], then handle normally (an upload is performed).
        * ``drop``: close the connection without an answer.
        * ``forged_signature``: success body, random base64 as ``Wechatpay-Signature``.
        * ``probe_signature``: success body, signature ``WECHATPAY/SIGNTEST/…``.
        * ``stale_timestamp``: success body signed over a ``Wechatpay-Timestamp``
          ``offset`` [-600] seconds from now.
        * ``unknown_serial``: correctly signed, but ``Wechatpay-Serial`` is ``serial``
          [a random one of the same kind].
        * ``wrong_key``: signed by an unrelated RSA key, serial of the real key.
        * ``missing_headers``: success body without the headers in ``omit`` [all five
          ``Wechatpay-*`` signature headers].
        * ``non_json``: answer ``status`` [502] with text/plain ``body`` ["Bad Gateway"],
          ``signed`` [False].

        Faults apply in the order queued, after the request body has been read,
        instead of normal handling: a faulted upload is recorded in :attr:`requests`
        but never in :attr:`uploads`. A faulted request's ``nonce_str`` still counts
        as used. Unknown kinds or options raise at once.
        """
        fault = Fault.create(kind, count, path, **opts)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._faults.clear()

    def rotate_certificate(self, *, retire_old: bool = False) -> PlatformCertificate:
        """Add a new platform certificate and sign with it from now on.

        The old ones stay listed (until they expire) unless ``retire_old``.
        """
        cert = PlatformCertificate.generate()
        with self._lock:
            if retire_old:
                self._certificates.clear()
            self._certificates.append(cert)
        return cert

    def add_expired_certificate(self) -> PlatformCertificate:
        """List an already expired certificate in ``/v3/certificates`` (never signs)."""
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        cert = PlatformCertificate.generate(
            not_before=now - dt.timedelta(days=5 * 365), not_after=now - dt.timedelta(days=1)
        )
        with self._lock:
            # Listed first: older than everything else, so never "the newest".
            self._certificates.insert(0, cert)
        return cert

    # Request handling (called from connection threads) ------------------------------------

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(path):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _record(self, record: ReceivedRequest) -> None:
        with self._lock:
            self._requests.append(record)
        if self.on_request is not None:
            try:
                self.on_request(record)
            except Exception:  # noqa: BLE001 - a logging callback must not break the server
                traceback.print_exc(file=sys.stderr)

    def _handle(
        self, method: str, target: str, headers: Headers, body: bytes, request_id: str
    ) -> tuple[_Answer, str | None]:
        """Answer one request whose body has been read; returns the answer and the fault kind."""
        path = urlsplit(target).path
        fault = self._take_fault(path)
        if fault is not None and fault.kind != "delay":
            self._use_nonce_quietly(headers)
            return self._fault_answer(fault, method, path, headers, body), fault.kind
        if fault is not None:
            self._stopping.wait(float(fault.options["seconds"]))
        try:
            answer = self._route(method, target, path, headers, body, request_id)
        except ApiError as error:
            answer = _error(error.status, error.code, error.message)
        except Exception as error:  # noqa: BLE001 - a sandbox bug: answer like WeChat would, and say so
            traceback.print_exc(file=sys.stderr)
            answer = _error(500, "SYSTEM_ERROR", f"sandbox internal error: {type(error).__name__}")
        return answer, fault.kind if fault else None

    def _route(self, method: str, target: str, path: str, headers: Headers, body: bytes, request_id: str) -> _Answer:
        if path == UPLOAD_PATH and method == "POST":
            return self._upload(target, headers, body, request_id)
        if path == CERTIFICATES_PATH and method == "GET":
            if self.mode == "public_key":
                raise ApiError(
                    404, "NOT_FOUND", "this merchant uses the WeChat Pay public key; there are no platform certificates"
                )
            return self._list_certificates(target, headers, body)
        if path in (UPLOAD_PATH, CERTIFICATES_PATH):
            raise ApiError(404, "NOT_FOUND", f"no API for {method} {path}")
        raise ApiError(404, "NOT_FOUND", f"no such API: {method} {path}")

    def _authorize(self, headers: Headers) -> Authorization:
        """Everything about ``Authorization`` except the signature itself (401 on failure)."""
        if len(headers.get_all("Authorization")) > 1:
            raise sign_error("Authorization header given more than once")
        auth = parse_authorization(headers.get("Authorization"))
        if auth.mchid != self.mchid:
            raise sign_error(f"Authorization mchid {auth.mchid!r} is not this merchant")
        if auth.serial_no != self.keys.merchant_serial_no:
            raise sign_error("Authorization serial_no does not name the merchant API certificate")
        check_clock(auth.timestamp, time.time())
        with self._lock:
            if auth.nonce_str in self._nonces:
                raise sign_error("Authorization nonce_str has been used before (replay)")
            self._nonces.add(auth.nonce_str)
        return auth

    def _use_nonce_quietly(self, headers: Headers) -> None:
        try:
            auth = parse_authorization(headers.get("Authorization"))
        except ApiError:
            return
        with self._lock:
            self._nonces.add(auth.nonce_str)

    def _check_signature(self, auth: Authorization, method: str, target: str, signed_body: bytes) -> None:
        message = signing_string(method, target, auth.timestamp, auth.nonce_str, signed_body)
        if not verify(self.keys.merchant_public_key, message, auth.signature):
            what = "the meta JSON text" if method == "POST" else "an empty body"
            raise sign_error(
                f"signature does not verify with the merchant key (it must cover "
                f"METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n with {what} as BODY)"
            )

    def _upload(self, target: str, headers: Headers, body: bytes, request_id: str) -> _Answer:
        auth = self._authorize(headers)
        check_accept(headers)
        check_user_agent(headers)
        if len(headers.get_all("Content-Type")) > 1:
            raise param_error("Content-Type header given more than once")
        try:
            boundary = parse_boundary(headers.get("Content-Type"))
            parts = parse_multipart(body, boundary)
        except MultipartError as error:
            raise param_error(str(error)) from None
        form = split_parts(parts)
        self._check_signature(auth, "POST", target, form.meta_bytes)
        valid = validate_upload(form, meta_text(form))
        with self._lock:
            media_id = self._new_media_id(valid.extension)
            self._issued[media_id] = valid.sha256
            self._uploads.append(
                UploadedImage(
                    filename=valid.filename,
                    sha256=valid.sha256,
                    data=valid.data,
                    meta_text=valid.meta_text,
                    media_id=media_id,
                    headers=headers,
                    file_content_type=valid.file_content_type,
                    request_id=request_id,
                )
            )
        return self._signed(_json_bytes({"media_id": media_id}), headers, certificates=False)

    def _new_media_id(self, extension: str) -> str:
        while True:
            media_id = f"{secrets.token_hex(16).upper()}.{extension}"
            if media_id not in self._issued:
                return media_id

    def _certificates_body(self) -> bytes:
        with self._lock:
            certs = list(self._certificates)
        data = [
            {
                "serial_no": cert.serial_no,
                "effective_time": _rfc3339(cert.not_before),
                "expire_time": _rfc3339(cert.not_after),
                "encrypt_certificate": encrypt_certificate(self.keys.apiv3_key, cert.certificate_pem),
            }
            for cert in certs
        ]
        return _json_bytes({"data": data})

    def _list_certificates(self, target: str, headers: Headers, body: bytes) -> _Answer:
        auth = self._authorize(headers)
        check_accept(headers)
        check_user_agent(headers)
        self._check_signature(auth, "GET", target, body)
        answer = self._signed(self._certificates_body(), headers, certificates=True)
        with self._lock:
            self._certificate_downloads += 1
        return answer

    # Signing answers ---------------------------------------------------------------------------

    def _signer(self, headers: Headers, *, certificates: bool) -> tuple[str, rsa.RSAPrivateKey]:
        """The serial and key that sign an answer to a request with these headers."""
        public = (self.keys.wechatpay_public_key_id, self.keys.wechatpay_private_key)
        if self.mode == "public_key":
            return public
        with self._lock:
            certs = list(self._certificates)
        valid = [c for c in certs if c.is_valid()]
        newest = valid[-1] if valid else certs[-1]
        if self.mode == "certificate":
            return newest.serial_no, newest.private_key
        requested = (headers.get("Wechatpay-Serial") or "").strip()
        named = next((c for c in certs if c.serial_no == requested.upper()), None) if requested else None
        if named is not None:
            return named.serial_no, named.private_key
        if certificates:  # the download is always signed by a platform certificate
            return newest.serial_no, newest.private_key
        return public

    def _signature_headers(
        self,
        body: bytes,
        serial: str,
        key: rsa.RSAPrivateKey,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
    ) -> list[tuple[str, str]]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        nonce = new_nonce()
        if signature is None:
            signature = sign(key, response_signing_string(ts, nonce, body))
        return [
            ("Wechatpay-Nonce", nonce),
            ("Wechatpay-Signature", signature),
            ("Wechatpay-Timestamp", ts),
            ("Wechatpay-Serial", serial),
            ("Wechatpay-Signature-Type", AUTH_SCHEME),
        ]

    def _signed(self, body: bytes, headers: Headers, *, certificates: bool, status: int = 200) -> _Answer:
        serial, key = self._signer(headers, certificates=certificates)
        return _Answer(status=status, body=body, headers=self._signature_headers(body, serial, key))

    # Faults --------------------------------------------------------------------------------------

    def _success_shaped_body(self, method: str, path: str, body: bytes, headers: Headers) -> bytes:
        """What a success would look like, without creating anything."""
        if path == CERTIFICATES_PATH:
            return self._certificates_body()
        if path == UPLOAD_PATH:
            extension = "jpg"
            try:
                parts = parse_multipart(body, parse_boundary(headers.get("Content-Type")))
                file = next(p for p in parts if p.name == "file")
                extension = detect_format(file.content) or extension
            except (MultipartError, StopIteration):
                pass
            return _json_bytes({"media_id": f"{secrets.token_hex(16).upper()}.{extension}"})
        return b"{}"

    def _fault_answer(self, fault: Fault, method: str, path: str, headers: Headers, body: bytes) -> _Answer:
        opts = fault.options
        kind = fault.kind
        certificates = path == CERTIFICATES_PATH
        if kind == "drop":
            return _Answer(status=None)
        if kind == "status":
            answer = _error(int(opts["status"]), str(opts["code"]), str(opts["message"]))
            if opts["signed"]:
                answer.headers += self._signed(answer.body, headers, certificates=certificates).headers
            answer.headers += [(str(k), str(v)) for k, v in (opts["headers"] or {}).items()]
            return answer
        if kind == "non_json":
            text = str(opts["body"]).encode("utf-8")
            answer = _Answer(status=int(opts["status"]), body=text, content_type="text/plain; charset=utf-8")
            if opts["signed"]:
                answer.headers += self._signed(text, headers, certificates=certificates).headers
            return answer
        success = self._success_shaped_body(method, path, body, headers)
        serial, key = self._signer(headers, certificates=certificates)
        if kind == "forged_signature":
            sig_headers = self._signature_headers(success, serial, key, signature=_random_b64())
        elif kind == "probe_signature":
            sig_headers = self._signature_headers(success, serial, key, signature="WECHATPAY/SIGNTEST/" + _random_b64())
        elif kind == "stale_timestamp":
            sig_headers = self._signature_headers(
                success, serial, key, timestamp=int(time.time()) + int(opts["offset"])
            )
        elif kind == "unknown_serial":
            fake = opts["serial"] or _fake_serial_like(serial)
            sig_headers = self._signature_headers(success, str(fake), key)
        elif kind == "wrong_key":
            sig_headers = self._signature_headers(success, serial, _stranger())
        elif kind == "missing_headers":
            omit = {name.lower() for name in opts["omit"]}
            sig_headers = [h for h in self._signature_headers(success, serial, key) if h[0].lower() not in omit]
        else:  # pragma: no cover - Fault.create rejects unknown kinds
            raise AssertionError(kind)
        return _Answer(status=200, body=success, headers=sig_headers)


def _random_b64() -> str:
    return base64.b64encode(secrets.token_bytes(256)).decode("ascii")


def _fake_serial_like(serial: str) -> str:
    """A serial nobody knows, of the same kind as ``serial``."""
    if serial.startswith("PUB_KEY_ID_"):
        return "PUB_KEY_ID_" + "".join(secrets.choice("0123456789") for _ in range(len(serial) - 11))
    return secrets.token_hex(20).upper()


def _error(status: int, code: str, message: str) -> _Answer:
    return _Answer(status=status, body=_json_bytes({"code": code, "message": message}), code=code, message=message)


# HTTP plumbing -------------------------------------------------------------------------------------


class _BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Disconnected(Exception):
    pass


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that tracks its connections so that stop() can end them."""

    daemon_threads = True
    block_on_close = False  # we join our own connection threads in close_connections()
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.sandbox = sandbox
        self._conn_lock = threading.Lock()
        self._connections: dict[socket.socket, threading.Thread] = {}
        super().__init__(address, _Handler)
        self._wake_r, self._wake_w = socket.socketpair()

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
        try:
            self._wake_w.send(b"x")
        except OSError:  # pragma: no cover - already closed
            pass

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
        if isinstance(exc, (ConnectionError, TimeoutError)) or self.sandbox._stopping.is_set():
            return  # the client went away, or we are closing its connection
        super().handle_error(request, client_address)

    def close_connections(self, timeout: float) -> None:
        """Shut every open connection down and wait for its thread."""
        with self._conn_lock:
            items = list(self._connections.items())
        for sock, _ in items:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for _, thread in items:
            thread.join(max(0.0, deadline - time.monotonic()))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "WechatPaySandbox/1"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are closed after this many seconds
    disable_nagle_algorithm = True
    server: _Server

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
        limit = self.server.sandbox.max_body_size
        encoding = self.headers.get("Transfer-Encoding")
        lengths = self.headers.get_all("Content-Length") or []
        if encoding is not None:
            if encoding.strip().lower() != "chunked" or lengths:
                raise _BodyError(400, "only Transfer-Encoding: chunked (without Content-Length) is understood")
            return self._read_chunked(limit)
        if not lengths:
            return b""
        if len(lengths) > 1 or not lengths[0].strip().isdigit():
            raise _BodyError(400, "Content-Length is malformed")
        length = int(lengths[0])
        if length > limit:
            raise _BodyError(413, f"request body of {length} bytes is larger than the sandbox accepts ({limit})")
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
        sandbox = self.server.sandbox
        request_id = secrets.token_hex(20).upper()
        headers = Headers(self.headers.items())
        method, target = self.command, self.path
        fault: str | None = None
        try:
            body = self._read_body()
        except _Disconnected:
            sandbox._record(
                ReceivedRequest(
                    client_port=self.client_address[1],
                    method=method,
                    path=target,
                    headers=headers,
                    body=b"",
                    request_id=request_id,
                )
            )
            self.close_connection = True
            return
        except _BodyError as error:
            body = b""
            answer = _error(error.status, "PARAM_ERROR", error.message)
            answer.close = True
        else:
            answer, fault = sandbox._handle(method, target, headers, body, request_id)
        self._finish(method, target, headers, body, request_id, answer, fault)

    def _finish(
        self,
        method: str,
        target: str,
        headers: Headers,
        body: bytes,
        request_id: str,
        answer: _Answer,
        fault: str | None,
    ) -> None:
        sandbox = self.server.sandbox
        if answer.status is None:  # "drop"
            sandbox._record(
                ReceivedRequest(
                    client_port=self.client_address[1],
                    method=method,
                    path=target,
                    headers=headers,
                    body=body,
                    request_id=None,
                    fault=fault,
                )
            )
            self.close_connection = True
            return
        out = [
            ("Server", self.version_string()),
            ("Date", self.date_time_string()),
            ("Content-Type", answer.content_type),
            ("Content-Length", str(len(answer.body))),
            ("Request-ID", request_id),
            *answer.headers,
        ]
        if answer.close:
            out.append(("Connection", "close"))
        sandbox._record(
            ReceivedRequest(
                client_port=self.client_address[1],
                method=method,
                path=target,
                headers=headers,
                body=body,
                response_status=answer.status,
                response_code=answer.code,
                response_message=answer.message,
                response_headers=Headers(out),
                response_body=answer.body,
                request_id=request_id,
                fault=fault,
            )
        )
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
        answer = _error(code, "PARAM_ERROR" if code < 500 else "NOT_IMPLEMENTED", text)
        answer.close = True
        method = self.command or ""
        target = getattr(self, "path", "") or ""
        request_id = secrets.token_hex(20).upper()
        if method == "HEAD":
            answer.body = b""
        self._finish(method, target, headers, b"", request_id, answer, None)
