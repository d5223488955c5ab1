"""The WeChat Pay client: transport in one place.

One :class:`requests.Session` per client (keep-alive), a timeout on every socket
operation and a deadline on every call, retries with exponential backoff and
jitter for 5xx, 429 and connection failures, failover to the backup host only when
nothing could be sent, no redirects followed, answers read up to a size cap, and
every answer verified before it is believed.

Every call (the image upload, :meth:`WeChatPayClient.request_json`,
:meth:`WeChatPayClient.download`) goes through :meth:`WeChatPayClient._call`.
"""

from __future__ import annotations

import ipaddress
import json as jsonlib
import logging
import math
import os
import platform
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, TypeGuard
from urllib.parse import quote, urlencode, urlsplit

import requests
import urllib3.exceptions
from cryptography.hazmat.primitives.asymmetric import rsa

from . import errors
from .keys import PemInput, Secret
from .multipart import FileChunks, MultipartBody, body_parts, content_type, new_boundary
from .signing import Signer, meta_json
from .validation import MAX_IMAGE_SIZE, PreparedImage, check_image, prepare_image
from .verification import KeyStore, has_signature, parse_json

logger = logging.getLogger("django_wxpay_media.wechatpay")

DEFAULT_BASE_URL = "https://api.mch.weixin.qq.com"
BACKUP_BASE_URL = "https://api2.mch.weixin.qq.com"
UPLOAD_PATH = "/v3/merchant-service/images/upload"
CERTIFICATES_PATH = "/v3/certificates"
#: A Retry-After longer than this is an outage, not a pause: give up instead.
MAX_RETRY_WAIT = 60.0
#: The most of a JSON answer that is read; a longer answer is invalid.
MAX_JSON_ANSWER = 1024 * 1024
#: The most of a downloaded image that is read (a little over the upload limit).
MAX_DOWNLOAD = MAX_IMAGE_SIZE + 256 * 1024
#: WeChat documents ``media_id`` as string[1,512].
MAX_MEDIA_ID_LENGTH = 512
#: Methods whose repetition changes nothing more (RFC 9110 9.2.2): an ambiguous failure is retried.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_READ_CHUNK = 64 * 1024


def _version() -> str:
    try:
        return metadata.version("django-wxpay-media")
    except metadata.PackageNotFoundError:  # running from a checkout that was never installed
        return "0+unknown"


USER_AGENT = (
    f"django-wxpay-media/{_version()} requests/{requests.__version__} "
    f"({platform.system()}) Python/{platform.python_version()}"
)


def is_loopback_url(url: str) -> bool:
    """True for URLs on this machine (127.0.0.0/8, ``localhost``, ``[::1]``)."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: str) -> str:
    """``url`` without a trailing slash, or :class:`~.errors.ConfigurationError`.

    The API is called over https only; plain http is allowed on loopback, for a
    local sandbox. Enforced here, at run time, not only by a Django system check
    (which gunicorn and uWSGI never run).
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except (ValueError, TypeError, AttributeError):
        raise errors.ConfigurationError(f"The API base URL {url!r} is not a URL.") from None
    if not host or parts.scheme not in ("http", "https"):
        raise errors.ConfigurationError(f"The API base URL must be an https URL, not {url!r}.")
    if parts.scheme == "http" and not is_loopback_url(url):
        raise errors.ConfigurationError(
            f"The API base URL {url!r} is plain http: WeChat Pay is called over https only "
            "(http is allowed on loopback, for a local sandbox)."
        )
    return url.rstrip("/")


@dataclass(frozen=True)
class UploadResult:
    media_id: str
    request_id: str
    attempts: int


@dataclass(frozen=True)
class ApiAnswer:
    """A verified 2xx answer of :meth:`WeChatPayClient.request_json`.

    ``data`` is the parsed JSON (unknown fields kept as sent), ``None`` for an empty
    body such as a 204.
    """

    status: int
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(repr=False)
    request_id: str
    data: Any = field(repr=False)
    attempts: int = 1


@dataclass(frozen=True)
class Download:
    """A downloaded image: checked to be a JPEG, PNG or BMP, never signature-checked (WeChat does not sign it)."""

    data: bytes = field(repr=False)
    content_type: str
    request_id: str


@dataclass
class _Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def request_id(self) -> str | None:
        return self.headers.get("Request-ID")


@dataclass
class _Request:
    """One API call as it is sent on every attempt (a payload only builds this)."""

    method: str
    target: str  # path and query, as sent
    #: A multipart body goes as its pieces (never joined): requests sends each with sendall.
    body: bytes | MultipartBody | None = None
    #: The BODY line of the signing string: the JSON sent, or the upload's meta text.
    signed_body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    accept: str = "application/json"
    #: Whether a 2xx answer must carry WeChat Pay's signature (not the image download).
    verify: bool = True
    limit: int = MAX_JSON_ANSWER
    #: Whether an attempt that may have reached WeChat Pay is sent again.
    repeatable: bool = False


class _Retry(Exception):
    """Internal: this attempt failed in a way that may be retried."""

    def __init__(self, error: errors.WeChatPayError, wait: float | None = None) -> None:
        self.error = error
        self.wait = wait


def _connection_not_made(err: requests.ConnectionError) -> bool:
    """True when the TCP/TLS connection was never established, so nothing was sent."""
    if isinstance(err, (requests.exceptions.ConnectTimeout, requests.exceptions.SSLError)):
        return True  # a failed TLS handshake sends no request either
    reason = err.args[0] if err.args else None
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the cause
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def default_deadline(timeout: float, max_retries: int, retry_backoff: float) -> float:
    """Seconds one call may take by default: each attempt's timeout plus the nominal backoffs."""
    waits = sum(min(MAX_RETRY_WAIT, retry_backoff * 2**n * 1.5) for n in range(max_retries))
    return timeout * (max_retries + 1) + waits


class _Gate:
    """When this client may send again after WeChat Pay asked it to slow down.

    One client is shared by the threads of a batch; a 429 (or a ``Retry-After``)
    seen by one of them is WeChat's rate limit for the merchant, so every thread
    waits for it before its next request, instead of each finding out with a
    429 of its own.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until = 0.0  # the client clock's time before which nothing is sent

    @property
    def until(self) -> float:
        return self._until

    def hold(self, until: float) -> None:
        """Send nothing before ``until`` (monotonic); a longer hold already set stays."""
        with self._lock:
            self._until = max(self._until, until)


class WeChatPayClient:
    """Calls the WeChat Pay APIv3 as one merchant.

    ``private_key`` is the merchant API key (``apiclient_key.pem``) and
    ``merchant_serial_no`` its certificate's serial. Answers are verified with the
    WeChat Pay public key (``public_key`` and ``public_key_id``), with platform
    certificates downloaded using ``apiv3_key``, or with both. ``certificates=False``
    keeps the APIv3 key only for decrypting (notifications) and never downloads a
    platform certificate (public key only); the default downloads them whenever
    ``apiv3_key`` is given.

    ``timeout`` bounds each connect and each socket read; ``deadline`` bounds a
    whole call, retries and their waits included (default: see
    :func:`default_deadline`). :attr:`max_call_seconds` is the longest a call can
    take.

    One client may be shared by threads (the batches do): after a 429 or a
    ``Retry-After`` answer, every thread waits out the same pause before its next
    request. A session built here ignores the environment per request: proxies
    (``HTTPS_PROXY``, ``NO_PROXY`` …) and a CA bundle (``REQUESTS_CA_BUNDLE``,
    ``CURL_CA_BUNDLE``) are read once, when the client is built; a ``session``
    given is used as it is configured. ``sleep`` and ``clock`` (``time.sleep`` and
    ``time.monotonic``) are what the client waits and tells time with.
    """

    def __init__(
        self,
        *,
        mchid: str,
        merchant_serial_no: str,
        private_key: PemInput | rsa.RSAPrivateKey,
        public_key: PemInput | rsa.RSAPublicKey | None = None,
        public_key_id: str | None = None,
        apiv3_key: str | bytes | Secret | None = None,
        certificates: bool | None = None,
        base_url: str = DEFAULT_BASE_URL,
        backup_base_url: str | None = None,
        timeout: float = 10.0,
        max_retries: int = 3,
        retry_backoff: float = 0.5,
        deadline: float | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], Any] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not mchid or not merchant_serial_no:
            raise errors.ConfigurationError("mchid and merchant_serial_no are required.")
        self.signer = Signer.from_pem(mchid, merchant_serial_no, private_key)
        self.keys = KeyStore(
            public_key=public_key, public_key_id=public_key_id, apiv3_key=apiv3_key, certificates=certificates
        )
        self.keys.fetch_certificates = self._fetch_certificates
        self.base_url = check_base_url(base_url)
        # Fail over only from WeChat's own primary host; a custom host is the user's business.
        if backup_base_url is None and self.base_url == DEFAULT_BASE_URL:
            backup_base_url = BACKUP_BASE_URL
        self.backup_base_url = check_base_url(backup_base_url) if backup_base_url else None
        if not timeout or timeout <= 0:
            raise errors.ConfigurationError(f"The timeout must be a positive number of seconds, not {timeout!r}.")
        self.timeout = float(timeout)
        self.max_retries = max(0, int(max_retries))
        self.retry_backoff = retry_backoff
        if deadline is None:
            deadline = default_deadline(self.timeout, self.max_retries, retry_backoff)
        if deadline <= 0:
            raise errors.ConfigurationError(f"The deadline must be a positive number of seconds, not {deadline!r}.")
        self.deadline = float(deadline)
        if session is None:
            session = requests.Session()
            # Reading the environment (proxies, netrc, CA bundle) on every request
            # costs more than signing it: read it once, here.
            self._environment = {base: _environment_settings(base) for base in self._bases()}
            session.trust_env = False
        else:
            self._environment = {}
        self.session = session
        # Waits and deadlines go through these two, so a test can pass a clock whose
        # sleep only moves it forward: pauses are then kept without being waited.
        self._sleep = sleep
        self._clock = clock
        self._gate = _Gate()
        self._local = threading.local()  # the deadline of the call running in this thread

    def __repr__(self) -> str:
        return f"<WeChatPayClient mchid={self.signer.mchid!r} base_url={self.base_url!r}>"

    @property
    def max_call_seconds(self) -> float:
        """The longest one call can take, retries and waits included.

        The deadline is checked between socket operations, each bounded by
        ``timeout``, so a call ends at most one ``timeout`` after its deadline. The
        Django layer sizes its stale-claim window from this.
        """
        return self.deadline + self.timeout

    @contextmanager
    def requests_in_flight(self, slots: threading.Semaphore) -> Iterator[None]:
        """Within this block, each request this thread sends holds one of ``slots`` while on the wire.

        Batches run a few more threads than requests may be in flight: while some
        threads wait for WeChat Pay's answer, the others prepare their next image
        (database, stored file), and ``slots`` (``CONCURRENCY``) still bounds the
        requests sent at a time. Backoff and rate-limit pauses hold no slot.
        """
        self._local.slots = slots
        try:
            yield
        finally:
            self._local.slots = None

    def _bases(self) -> list[str]:
        return [self.base_url, self.backup_base_url] if self.backup_base_url else [self.base_url]

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> WeChatPayClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- public API ---------------------------------------------------------------

    def upload_image(self, image: PreparedImage) -> UploadResult:
        """Upload a validated image; return its ``media_id`` from a verified answer.

        Raises a :class:`~.errors.WeChatPayError` subclass on any failure; an answer
        that does not verify is never a success.
        """
        meta = meta_json(image.filename, image.sha256)
        boundary = new_boundary()
        # An image validated from a file is read from it as it is sent (again on a retry).
        piece = image.data if image.opener is None else FileChunks(image.opener, image.size)
        request = _Request(
            "POST",
            UPLOAD_PATH,
            body=body_parts(meta, image.filename, piece, image.content_type, boundary),
            signed_body=meta,
            headers={"Content-Type": content_type(boundary)},
            # Sending the same image again only leaves an unused copy at WeChat Pay
            # (each upload gets its own media_id): see README "Retries and failures".
            repeatable=True,
        )
        answer, attempts = self._call(request)
        data = parse_json(answer.body, status=answer.status, request_id=answer.request_id)
        media_id = data.get("media_id") if isinstance(data, dict) else None
        if not valid_media_id(media_id):
            raise errors.InvalidResponseError(
                "The answer has no valid media_id (WeChat documents string[1,512] without control characters).",
                status=answer.status,
                request_id=answer.request_id,
            )
        return UploadResult(media_id=media_id, request_id=answer.request_id or "", attempts=attempts)

    def upload_bytes(self, data: bytes, filename: str | None = None) -> UploadResult:
        """Validate ``data`` (see :func:`~.validation.prepare_image`) and upload it."""
        return self.upload_image(prepare_image(data, filename))

    def request_json(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> ApiAnswer:
        """Call any APIv3 endpoint with a JSON body (or none); return the verified answer.

        ``path`` (``/v3/...``) may carry a query string already; ``query`` is
        appended, percent-encoded. The URL signed is exactly the one sent, and a
        ``json`` body is signed as the exact bytes sent. Every 2xx answer, a 204
        included, must carry a valid WeChat Pay signature.

        An attempt that may have reached WeChat Pay (connection lost or timed out
        after sending) is retried only for ``idempotent`` requests: by default
        GET, HEAD, OPTIONS, PUT and DELETE, never a POST (a reply is not sent twice).
        """
        method = method.upper()
        target = self._target(path, query)
        body = None
        signed_body = ""
        headers: dict[str, str] = {}
        if json is not None:
            signed_body = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":"))
            body = signed_body.encode("utf-8")
            headers["Content-Type"] = "application/json"
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        request = _Request(method, target, body=body, signed_body=signed_body, headers=headers, repeatable=idempotent)
        answer, attempts = self._call(request)
        data = None
        if answer.body:
            data = parse_json(answer.body, status=answer.status, request_id=answer.request_id)
        return ApiAnswer(
            status=answer.status,
            headers=answer.headers,
            body=answer.body,
            request_id=answer.request_id or "",
            data=data,
            attempts=attempts,
        )

    def download(self, url_or_path: str, *, max_bytes: int = MAX_DOWNLOAD) -> Download:
        """Download an image, e.g. ``GET /v3/merchant-service/images/{media_id}``.

        ``url_or_path`` is a path (``/v3/...``) or a full URL on the API's host (a
        complaint's ``media_url``): its path and query are sent, as given, to the
        configured base URL; another host is refused. The answer is not signed by
        WeChat Pay, so it is checked instead: a 2xx, an ``image/*`` content type,
        at most ``max_bytes``, and bytes that really are a JPEG, PNG or BMP image.
        """
        target = self._download_target(url_or_path)
        request = _Request("GET", target, accept="*/*", verify=False, limit=max_bytes, repeatable=True)
        answer, _ = self._call(request)
        request_id = answer.request_id or ""
        kind = str(answer.headers.get("Content-Type") or "")
        if not kind.split(";")[0].strip().lower().startswith("image/"):
            raise errors.InvalidResponseError(
                f"The download is not an image (Content-Type {kind[:80]!r}).",
                status=answer.status,
                request_id=request_id,
            )
        try:
            check_image(answer.body)
        except errors.ImageValidationError as err:
            raise errors.InvalidResponseError(
                f"The download is not a whole JPEG, PNG or BMP image ({err.code}).",
                status=answer.status,
                request_id=request_id,
            ) from None
        return Download(data=answer.body, content_type=kind, request_id=request_id)

    # -- building requests ---------------------------------------------------------------

    @staticmethod
    def _target(path: str, query: Mapping[str, Any] | None) -> str:
        if not isinstance(path, str) or not path.startswith("/"):
            raise errors.InvalidURLError(f"An API path starts with '/', not {path!r}.")
        if "#" in path or any(ord(ch) < 0x21 for ch in path):
            raise errors.InvalidURLError(f"An API path has no fragment, spaces or control characters: {path!r}.")
        if not query:
            return path
        pairs = []
        for key, value in query.items():
            if value is None:
                continue
            values = value if isinstance(value, (list, tuple)) else [value]
            for item in values:
                text = ("true" if item else "false") if isinstance(item, bool) else str(item)
                pairs.append((str(key), text))
        if not pairs:
            return path
        encoded = urlencode(pairs, quote_via=quote, safe="")
        return path + ("&" if "?" in path else "?") + encoded

    def _download_target(self, url_or_path: str) -> str:
        if not isinstance(url_or_path, str):
            raise errors.InvalidURLError(f"Expected a URL or a path, not {type(url_or_path).__name__}.")
        if url_or_path.startswith("/"):
            return self._target(url_or_path, None)
        try:
            parts = urlsplit(url_or_path)
            host, port = parts.hostname, parts.port
        except ValueError:
            raise errors.InvalidURLError(f"Not a URL: {url_or_path[:200]!r}.") from None
        allowed = {
            self._host(url) for url in (self.base_url, self.backup_base_url, DEFAULT_BASE_URL, BACKUP_BASE_URL) if url
        }
        if parts.scheme not in ("https", "http") or (parts.scheme == "http" and not is_loopback_url(url_or_path)):
            raise errors.InvalidURLError(f"Refusing a non-https URL: {url_or_path[:200]!r}.")
        if (host, port or (443 if parts.scheme == "https" else 80)) not in allowed:
            raise errors.InvalidURLError(
                f"Refusing a URL on another host than the WeChat Pay API: {url_or_path[:200]!r}."
            )
        if parts.fragment or parts.username or parts.password:
            raise errors.InvalidURLError(f"Refusing a URL with credentials or a fragment: {url_or_path[:200]!r}.")
        target = parts.path + ("?" + parts.query if parts.query else "")
        return self._target(target, None)

    @staticmethod
    def _host(url: str) -> tuple[str | None, int]:
        parts = urlsplit(url)
        return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)

    # -- transport ------------------------------------------------------------------

    def _fetch_certificates(self) -> tuple[Mapping[str, str], bytes]:
        # Not verified here: KeyStore verifies it against the certificates it delivered.
        answer, _ = self._call(_Request("GET", CERTIFICATES_PATH, verify=False, repeatable=True), certificates=True)
        return answer.headers, answer.body

    @contextmanager
    def _deadline(self) -> Iterator[float]:
        """The monotonic deadline of this call; a nested call (a certificate download) shares its caller's."""
        outer = getattr(self._local, "deadline", None)
        if outer is not None:
            yield outer
            return
        self._local.deadline = self._clock() + self.deadline
        try:
            yield self._local.deadline
        finally:
            self._local.deadline = None

    def _call(self, request: _Request, *, certificates: bool = False) -> tuple[_Answer, int]:
        """Send ``request`` with retries until it succeeds, fails for good or the deadline passes."""
        with self._deadline() as deadline:
            number = 0
            waited_until = 0.0  # the end of the pause this call already sat out
            while True:
                number += 1
                waited_until = self._pass_gate(waited_until, deadline)
                try:
                    return self._attempt(request, deadline, certificates=certificates), number
                except _Retry as retry:
                    error = retry.error
                    if isinstance(error, errors.TransportError):
                        error.attempts = number
                    wait = self._backoff(number, retry.wait)
                    now = self._clock()
                    if _slow_down(error, retry.wait):
                        # WeChat's rate limit is the merchant's: every thread sharing this
                        # client pauses too (see _pass_gate), even when this call gives up.
                        self._gate.hold(now + wait)
                        waited_until = max(waited_until, now + wait)
                    if number > self.max_retries:
                        raise error from error.__cause__
                    if isinstance(error, errors.TransportError) and error.request_sent and not request.repeatable:
                        # WeChat Pay may have performed it: sending it again is not ours to decide.
                        raise error from error.__cause__
                    if retry.wait is not None and retry.wait > MAX_RETRY_WAIT:
                        raise error from error.__cause__
                    if now + wait >= deadline:
                        logger.warning("WeChat Pay attempt %d failed (%s); no time left to retry", number, error)
                        raise error from error.__cause__
                    logger.warning("WeChat Pay attempt %d failed (%s); retrying in %.2fs", number, error, wait)
                    self._sleep(wait)

    def _pass_gate(self, waited_until: float, deadline: float) -> float:
        """Wait out a pause WeChat Pay asked another thread for; the end of the pause waited for.

        Each pause is waited for once (``waited_until``), so an injected ``sleep``
        that does not really sleep cannot loop here; a pause made longer meanwhile
        is waited for again. A pause that outlasts this call's deadline fails the
        call at once, with nothing sent.
        """
        while True:
            until = self._gate.until
            now = self._clock()
            if until <= waited_until or until <= now:
                return waited_until
            if until >= deadline:
                raise errors.FrequencyLimitedError(
                    f"WeChat Pay asked this merchant to slow down for {until - now:.1f} s more, "
                    "beyond this call's deadline; not sent.",
                    retry_after=until - now,
                )
            self._sleep(until - now)
            waited_until = until

    def _backoff(self, number: int, retry_after: float | None) -> float:
        # Exponential with full jitter around the nominal delay, never below Retry-After.
        nominal = self.retry_backoff * (2 ** (number - 1))
        wait = nominal * (0.5 + random.random())  # noqa: S311 - jitter spreads retries; it protects no secret
        if retry_after is not None:
            wait = max(wait, retry_after)
        return min(wait, MAX_RETRY_WAIT)

    def _attempt(self, request: _Request, deadline: float, *, certificates: bool = False) -> _Answer:
        """One attempt: sign, send (failing over if the connection was never made), judge the answer."""
        headers = {
            "Accept": request.accept,
            "Accept-Encoding": "identity",  # the size cap counts the bytes as signed
            "User-Agent": USER_AGENT,
            **request.headers,
        }
        if request.verify:
            headers["Wechatpay-Serial"] = self.keys.accepted_serial()
        elif certificates:
            serial = self.keys.known_serial()  # none before the first download
            if serial:
                headers["Wechatpay-Serial"] = serial
        answer = self._send(request, headers, deadline)
        if 200 <= answer.status < 300:
            if request.verify:
                self.keys.verify(answer.headers, answer.body, status=answer.status)
            return answer
        raise self._error_for(answer)

    def _timeout_error(self, url: str, *, sent: bool) -> errors.WeChatPayTimeout:
        return errors.WeChatPayTimeout(
            f"WeChat Pay did not answer in time ({self.timeout} s per read, {self.deadline} s per call; {url}).",
            url=url,
            request_sent=sent,
        )

    def _send(self, request: _Request, headers: dict[str, str], deadline: float) -> _Answer:
        bases = [self.base_url]
        if self.backup_base_url:
            bases.append(self.backup_base_url)
        for index, base in enumerate(bases):
            url = base + request.target
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise _Retry(self._timeout_error(url, sent=False))  # nothing sent in this attempt yet
            # The URL is prepared first so that the path signed is the one requests sends.
            prepared = self.session.prepare_request(
                requests.Request(request.method, url, data=request.body, headers=headers)
            )
            prepared.headers["Authorization"] = self.signer.authorization(
                request.method, prepared.path_url, request.signed_body
            )
            options = self._send_options(base, prepared.url or url)
            with self._slot(url, deadline):  # signed and ready: only the exchange itself holds a slot
                try:
                    response = self._exchange(prepared, timeout=min(self.timeout, remaining), **options)
                except requests.ConnectionError as err:
                    not_made = _connection_not_made(err)
                    if not_made and index + 1 < len(bases):
                        logger.warning("Cannot connect to %s; failing over to %s", url, bases[index + 1])
                        continue
                    if isinstance(err, requests.exceptions.ConnectTimeout):
                        error: errors.TransportError = self._timeout_error(url, sent=False)
                    else:
                        error = errors.WeChatPayConnectionError(
                            f"Cannot reach WeChat Pay at {url}: {type(err).__name__}",
                            url=url,
                            request_sent=not not_made,
                        )
                    error.__cause__ = err
                    raise _Retry(error) from err
                except requests.Timeout as err:
                    error = self._timeout_error(url, sent=True)
                    error.__cause__ = err
                    raise _Retry(error) from err
                except requests.RequestException as err:
                    raise errors.WeChatPayConnectionError(
                        f"Request to {url} failed: {type(err).__name__}", url=url
                    ) from err
                with response:
                    return self._receive(response, request, url, deadline)
        raise AssertionError("unreachable")  # pragma: no cover

    def _exchange(self, prepared: requests.PreparedRequest, **options: Any) -> requests.Response:
        """Send ``prepared``; never follows a redirect."""
        if self._environment:
            # Our own session has no hooks, and WeChat Pay sets no cookies: the adapter
            # alone does what Session.send would (its cookie and hook handling cost
            # more CPU per upload than signing it).
            adapter = self.session.get_adapter(prepared.url or "")
            return adapter.send(prepared, **options)
        return self.session.send(prepared, allow_redirects=False, **options)

    @contextmanager
    def _slot(self, url: str, deadline: float) -> Iterator[None]:
        """Hold one of this thread's batch slots (see :meth:`requests_in_flight`) during an exchange."""
        slots: threading.Semaphore | None = getattr(self._local, "slots", None)
        if slots is None:
            yield
            return
        if not slots.acquire(timeout=max(0.0, deadline - self._clock())):
            raise _Retry(self._timeout_error(url, sent=False))
        try:
            yield
        finally:
            slots.release()

    def _send_options(self, base: str, url: str) -> dict[str, Any]:
        environment = self._environment.get(base)
        if environment is None:  # a session given to us: requests reads the environment as it is set up to
            options = self.session.merge_environment_settings(url, {}, True, None, None)
        else:
            proxies, verify = environment
            options = self.session.merge_environment_settings(url, dict(proxies), True, verify, None)
        options["stream"] = True
        return options

    def _receive(self, response: requests.Response, request: _Request, url: str, deadline: float) -> _Answer:
        """The answer's body, read up to ``request.limit`` bytes and until ``deadline``."""
        status = response.status_code
        headers = response.headers
        request_id = headers.get("Request-ID")
        if 300 <= status < 400:
            # Never followed: a redirect would send the request (an image) elsewhere.
            raise errors.InvalidResponseError(
                f"WeChat Pay answered with a redirect to {str(headers.get('Location', ''))[:200]!r}; "
                "redirects are never followed.",
                status=status,
                request_id=request_id,
            )

        def too_large() -> errors.InvalidResponseError:
            return errors.InvalidResponseError(
                f"The answer is larger than {request.limit} bytes; not read.", status=status, request_id=request_id
            )

        length = headers.get("Content-Length")
        if length and length.strip().isdigit() and int(length) > request.limit:
            raise too_large()
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                if self._clock() > deadline:
                    raise _Retry(self._timeout_error(url, sent=True))
                chunk = response.raw.read1(_READ_CHUNK, decode_content=True)
                if not chunk:
                    break
                size += len(chunk)
                if size > request.limit:
                    raise too_large()
                chunks.append(chunk)
        except urllib3.exceptions.ReadTimeoutError as err:
            error = self._timeout_error(url, sent=True)
            error.__cause__ = err
            raise _Retry(error) from err
        except (urllib3.exceptions.HTTPError, OSError) as err:
            conn_error = errors.WeChatPayConnectionError(
                f"The answer from {url} broke off: {type(err).__name__}", url=url, request_sent=True
            )
            conn_error.__cause__ = err
            raise _Retry(conn_error) from err
        return _Answer(status, headers, b"".join(chunks))

    def _error_for(self, answer: _Answer) -> Exception:
        """The exception for a non-2xx answer; wrapped in _Retry when it may be retried."""
        verified = False
        if has_signature(answer.headers):
            try:
                self.keys.verify(answer.headers, answer.body, status=answer.status)
                verified = True
            except errors.SignatureVerificationError as err:
                logger.warning("Error answer with an invalid signature (%s)", err.reason)
        retryable = answer.status >= 500 or answer.status == 429
        try:
            data = parse_json(answer.body, status=answer.status, request_id=answer.request_id)
        except errors.InvalidResponseError as err:
            return _Retry(err) if retryable else err
        data = data if isinstance(data, dict) else {}
        code = data.get("code")
        code = code if isinstance(code, str) and code else None
        message = data.get("message")
        cls = errors.api_error_for(answer.status, code)
        error = cls(
            message if isinstance(message, str) else "",
            status=answer.status,
            code=code,
            request_id=answer.request_id,
            verified=verified,
            retry_after=_retry_after(answer.headers),
            detail=data.get("detail"),
        )
        return _Retry(error, error.retry_after) if retryable else error


def _slow_down(error: errors.WeChatPayError, retry_after: float | None) -> bool:
    """Whether an answer asks the whole merchant to pause: a 429, or any ``Retry-After``."""
    return retry_after is not None or getattr(error, "status", None) == 429


def _environment_settings(base: str) -> tuple[dict[str, str], bool | str]:
    """The proxies and CA bundle requests would take from the environment for ``base``."""
    proxies = requests.utils.get_environ_proxies(base)
    verify: bool | str = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return proxies, verify


def valid_media_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` is a media_id as WeChat documents it: string[1,512], printable, unpadded."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_MEDIA_ID_LENGTH
        and value == value.strip()
        and value.isprintable()
    )


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        wait = float(value)
    except ValueError:
        return None  # an HTTP date: rare here, and backoff still applies
    if math.isnan(wait) or wait < 0:
        return 0.0
    return wait
