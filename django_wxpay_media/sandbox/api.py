"""The API: routing, authorization, nonces, the upload and the certificate download.

:class:`Api` answers one request whose body has been read (:meth:`Api.answer`); the
HTTP layer (:mod:`.httpd`) reads and writes the bytes and records the exchange
through :meth:`Api.record`. Everything a request can change lives here, behind a lock.
"""

from __future__ import annotations

import re
import secrets
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from .answers import Answer, AnswerSigner, error_answer, json_bytes
from .faults import UPLOAD_PATH, FaultContext, FaultQueue
from .keys import SandboxKeys
from .multipart import MultipartError, Part, find_boundary, parse_multipart
from .protocol import (
    ApiError,
    Authorization,
    check_accept,
    check_clock,
    check_user_agent,
    param_error,
    parse_authorization,
    sign_error,
    signing_string,
    verify,
)
from .records import Headers, ReceivedRequest, UploadedImage
from .upload import detect_format, meta_text, split_parts, validate_upload

__all__ = ["CERTIFICATES_PATH", "Api", "ApiRequest", "Route"]

CERTIFICATES_PATH = "/v3/certificates"


@dataclass
class ApiRequest:
    """One request as the API sees it: the target exactly as sent, its path and query."""

    method: str
    target: str
    headers: Headers
    body: bytes
    request_id: str
    #: Remarks for the request log (copied onto the answer).
    notes: list[str] = field(default_factory=list)

    @property
    def path(self) -> str:
        """The path without the query string."""
        return urlsplit(self.target).path

    @property
    def query_pairs(self) -> list[tuple[str, str]]:
        """The query parameters in order, repeats kept (a malformed escape is a 400)."""
        try:
            return parse_qsl(urlsplit(self.target).query, keep_blank_values=True, errors="strict")
        except (ValueError, UnicodeDecodeError):
            raise param_error("the query string is not UTF-8 text") from None


#: ``handler(request, authorization, path parameters) -> Answer``.
Handler = Callable[[ApiRequest, Authorization, dict[str, str]], Answer]


@dataclass(frozen=True)
class Route:
    """One API: method, path pattern (``{name}`` matches one segment) and its handler.

    ``signs_body``: the signature covers the raw body and is checked before the handler
    runs; ``False`` leaves it to the handler (the upload signs only its meta part).
    ``preview`` gives the body a success would have, for faults (default ``{}``).
    """

    method: str
    pattern: str
    handler: Handler
    signs_body: bool = True
    preview: Callable[[ApiRequest], bytes] | None = None
    #: Answers signed by a platform certificate whatever the mode (the certificate download).
    certificates: bool = False
    #: Checks made before authentication (an API this merchant does not have at all).
    available: Callable[[], None] | None = None
    #: The status of a success (204 for the APIs that answer no content).
    success_status: int = 200
    #: Checks the ``Accept`` header (JSON by default).
    accept: Callable[[Headers], None] = check_accept

    def match(self, path: str) -> dict[str, str] | None:
        """The path parameters if ``path`` matches, else ``None``."""
        found = _compiled(self.pattern).match(path)
        return None if found is None else found.groupdict()


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    if pattern not in _PATTERNS:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(pattern))
        _PATTERNS[pattern] = re.compile(f"^{regex}\\Z")
    return _PATTERNS[pattern]


class Api:
    """The sandbox's WeChat Pay APIv3: state, routes and the checks every request passes."""

    def __init__(
        self,
        *,
        mchid: str,
        keys: SandboxKeys,
        signer: AnswerSigner,
        faults: FaultQueue,
        stopping: threading.Event,
        max_body_size: int,
        on_request: Callable[[ReceivedRequest], None] | None = None,
    ) -> None:
        self.mchid = mchid
        self.keys = keys
        self.signer = signer
        self.faults = faults
        self.stopping = stopping
        self.max_body_size = max_body_size
        self.on_request = on_request
        self.lock = threading.RLock()
        self._requests: list[ReceivedRequest] = []
        self._uploads: list[UploadedImage] = []
        self._nonces: set[str] = set()
        self._issued: dict[str, str] = {}
        self._certificate_downloads = 0
        self._routes: list[Route] = [
            Route(
                "POST",
                UPLOAD_PATH,
                self._upload,
                signs_body=False,
                preview=self._upload_preview,
            ),
            Route(
                "GET",
                CERTIFICATES_PATH,
                self._list_certificates,
                available=self._certificates_available,
                preview=lambda request: self.signer.certificates_body(),
                certificates=True,
            ),
        ]

    def add_routes(self, routes: list[Route]) -> None:
        """Serve more APIs (checked in order after the ones already known)."""
        self._routes.extend(routes)

    # What happened ---------------------------------------------------------------------

    def record(self, record: ReceivedRequest) -> None:
        """Log one exchange and tell ``on_request``."""
        with self.lock:
            self._requests.append(record)
        if self.on_request is not None:
            try:
                self.on_request(record)
            except Exception:  # noqa: BLE001 - a logging callback must not break the server
                traceback.print_exc(file=sys.stderr)

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Every request received, in order (a copy)."""
        with self.lock:
            return list(self._requests)

    @property
    def uploads(self) -> list[UploadedImage]:
        """Every accepted upload, in order (a copy)."""
        with self.lock:
            return list(self._uploads)

    @property
    def issued_media_ids(self) -> dict[str, str]:
        """Every media_id issued, mapped to the file's sha256 (a copy)."""
        with self.lock:
            return dict(self._issued)

    @property
    def certificate_downloads(self) -> int:
        """How many certificate downloads were answered normally."""
        with self.lock:
            return self._certificate_downloads

    def reset(self) -> None:
        """Forget requests, uploads, seen nonces and the download count."""
        with self.lock:
            self._requests.clear()
            self._uploads.clear()
            self._nonces.clear()
            self._certificate_downloads = 0

    # Answering -------------------------------------------------------------------------

    def answer(self, request: ApiRequest) -> tuple[Answer, str | None]:
        """Answer one request whose body has been read; returns the answer and the fault kind."""
        route, params = self._find(request)
        fault = self.faults.take(request.path)
        if fault is not None:
            context = FaultContext(
                request_headers=request.headers,
                signer=self.signer,
                certificates=bool(route and route.certificates),
                success_body=lambda: self._preview(route, request),
                success_status=route.success_status if route else 200,
            )
            faulted = fault.render(context)
            if faulted is not None:
                self._use_nonce_quietly(request.headers)
                return faulted, fault.kind
            self.stopping.wait(fault.delay)
        try:
            if route is None:
                raise self._not_found(request)
            if route.available is not None:
                route.available()
            auth = self.authorize(request.headers)
            route.accept(request.headers)
            check_user_agent(request.headers)
            if route.signs_body:
                self.check_signature(auth, request.method, request.target, request.body)
            answer = route.handler(request, auth, params or {})
        except ApiError as error:
            answer = error_answer(error.status, error.code, error.message)
        except Exception as error:  # noqa: BLE001 - a sandbox bug: answer like WeChat would, and say so
            traceback.print_exc(file=sys.stderr)
            answer = error_answer(500, "SYSTEM_ERROR", f"sandbox internal error: {type(error).__name__}")
        answer.notes[:0] = request.notes
        return answer, fault.kind if fault else None

    def _find(self, request: ApiRequest) -> tuple[Route | None, dict[str, str] | None]:
        for route in self._routes:
            if route.method == request.method:
                params = route.match(request.path)
                if params is not None:
                    return route, params
        return None, None

    def _not_found(self, request: ApiRequest) -> ApiError:
        if any(route.match(request.path) is not None for route in self._routes):
            return ApiError(404, "NOT_FOUND", f"no API for {request.method} {request.path}")
        return ApiError(404, "NOT_FOUND", f"no such API: {request.method} {request.path}")

    def _preview(self, route: Route | None, request: ApiRequest) -> bytes:
        if route is None or route.preview is None:
            return b"{}"
        return route.preview(request)

    # Authentication --------------------------------------------------------------------

    def authorize(self, headers: Headers) -> Authorization:
        """Everything about ``Authorization`` except the signature itself (401 on failure)."""
        if len(headers.get_all("Authorization")) > 1:
            raise sign_error("Authorization header given more than once")
        auth = parse_authorization(headers.get("Authorization"))
        if auth.mchid != self.mchid:
            raise sign_error(f"Authorization mchid {auth.mchid!r} is not this merchant")
        if auth.serial_no != self.keys.merchant_serial_no:
            raise sign_error("Authorization serial_no does not name the merchant API certificate")
        check_clock(auth.timestamp, time.time())
        with self.lock:
            if auth.nonce_str in self._nonces:
                raise sign_error("Authorization nonce_str has been used before (replay)")
            self._nonces.add(auth.nonce_str)
        return auth

    def _use_nonce_quietly(self, headers: Headers) -> None:
        """A faulted request's nonce still counts as used."""
        try:
            auth = parse_authorization(headers.get("Authorization"))
        except ApiError:
            return
        with self.lock:
            self._nonces.add(auth.nonce_str)

    def check_signature(
        self,
        auth: Authorization,
        method: str,
        target: str,
        signed_body: bytes,
        *,
        what: str | None = None,
    ) -> None:
        """401 SIGN_ERROR unless the merchant key signed ``METHOD\\nURL\\nTS\\nNONCE\\nBODY\\n``.

        ``what`` names the expected BODY in the error message.
        """
        message = signing_string(method, target, auth.timestamp, auth.nonce_str, signed_body)
        if not verify(self.keys.merchant_public_key, message, auth.signature):
            if what is None:
                what = "the JSON body" if method in ("POST", "PUT", "PATCH") else "an empty body"
            raise sign_error(
                f"signature does not verify with the merchant key (it must cover "
                f"METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n with {what} as BODY)"
            )

    # The upload ------------------------------------------------------------------------

    def _multipart(self, request: ApiRequest) -> tuple[list[Part], str | None]:
        """The form parts and, if the boundary had to be read from the body, a note saying so."""
        if len(request.headers.get_all("Content-Type")) > 1:
            raise param_error("Content-Type header given more than once")
        try:
            boundary, note = find_boundary(request.headers.get("Content-Type"), request.body)
            return parse_multipart(request.body, boundary), note
        except MultipartError as error:
            raise param_error(str(error)) from None

    def _upload(self, request: ApiRequest, auth: Authorization, params: dict[str, str]) -> Answer:
        parts, note = self._multipart(request)
        if note is not None:
            request.notes.append(note)
        form = split_parts(parts)
        request.notes.extend(form.notes)
        self.check_signature(auth, "POST", request.target, form.meta_bytes, what="the meta JSON text")
        valid = validate_upload(form, meta_text(form))
        with self.lock:
            media_id = self._new_media_id(valid.extension)
            self._issued[media_id] = valid.sha256
            self._uploads.append(
                UploadedImage(
                    filename=valid.filename,
                    sha256=valid.sha256,
                    data=valid.data,
                    meta_text=valid.meta_text,
                    media_id=media_id,
                    headers=request.headers,
                    file_content_type=valid.file_content_type,
                    request_id=request.request_id,
                )
            )
        return self.signer.signed(json_bytes({"media_id": media_id}), request.headers)

    def _upload_preview(self, request: ApiRequest) -> bytes:
        extension = "jpg"
        try:
            file = next(p for p in self._multipart(request)[0] if p.name == "file")
            extension = detect_format(file.content) or extension
        except (ApiError, StopIteration):
            pass
        return json_bytes({"media_id": f"{secrets.token_hex(16).upper()}.{extension}"})

    def _new_media_id(self, extension: str) -> str:
        while True:
            media_id = f"{secrets.token_hex(16).upper()}.{extension}"
            if media_id not in self._issued:
                return media_id

    # Certificates ----------------------------------------------------------------------

    def _certificates_available(self) -> None:
        if self.signer.mode == "public_key":
            raise ApiError(
                404,
                "NOT_FOUND",
                "this merchant uses the WeChat Pay public key; there are no platform certificates",
            )

    def _list_certificates(self, request: ApiRequest, auth: Authorization, params: dict[str, str]) -> Answer:
        answer = self.signer.signed(self.signer.certificates_body(), request.headers, certificates=True)
        with self.lock:
            self._certificate_downloads += 1
        return answer
