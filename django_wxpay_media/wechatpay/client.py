"""The WeChat Pay client: the API calls over one transport (:mod:`.transport`).

One :class:`requests.Session` per client (keep-alive), a timeout on every socket
operation and a deadline on every call, retries with exponential backoff and
jitter for 5xx, 429 and connection failures, failover to the backup host only when
nothing could be sent, no redirects followed, answers read up to a size cap, and
every answer verified before it is believed.

Every call (the image upload, :meth:`WeChatPayClient.request_json`,
:meth:`WeChatPayClient.download`) goes through ``_call`` (:class:`~.transport._Transport`), which the client
inherits; the client adds the calls, their targets and their answers' types.
"""

from __future__ import annotations

import ipaddress
import json as jsonlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeGuard
from urllib.parse import quote, urlencode, urlsplit

import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from . import errors
from .keys import PemInput, Secret
from .multipart import FileChunks, body_parts, content_type, new_boundary
from .signing import Signer, meta_json
from .transport import (
    _environment_settings,
    _Gate,
    _Request,
    _Transport,
    default_deadline,
)
from .validation import MAX_IMAGE_SIZE, PreparedImage, check_image, prepare_image
from .verification import KeyStore, parse_json

logger = logging.getLogger("django_wxpay_media.wechatpay")

DEFAULT_BASE_URL = "https://api.mch.weixin.qq.com"
BACKUP_BASE_URL = "https://api2.mch.weixin.qq.com"
UPLOAD_PATH = "/v3/merchant-service/images/upload"
CERTIFICATES_PATH = "/v3/certificates"
#: The most of a downloaded image that is read (a little over the upload limit).
MAX_DOWNLOAD = MAX_IMAGE_SIZE + 256 * 1024
#: WeChat documents ``media_id`` as string[1,512].
MAX_MEDIA_ID_LENGTH = 512
#: Methods whose repetition changes nothing more (RFC 9110 9.2.2): an ambiguous failure is retried.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


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


class WeChatPayClient(_Transport):
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


def valid_media_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` is a media_id as WeChat documents it: string[1,512], printable, unpadded."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_MEDIA_ID_LENGTH
        and value == value.strip()
        and value.isprintable()
    )
