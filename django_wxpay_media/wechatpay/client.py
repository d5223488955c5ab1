"""The WeChat Pay client: transport in one place.

One :class:`requests.Session` per client (keep-alive), a timeout on every request,
retries with exponential backoff and jitter for 5xx, 429 and connection failures,
failover to the backup host only when nothing could be sent, and every answer
verified before it is believed.
"""

from __future__ import annotations

import logging
import platform
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from cryptography.hazmat.primitives.asymmetric import rsa

from . import errors
from .keys import PemInput
from .multipart import build_body, content_type, new_boundary
from .signing import Signer, meta_json
from .validation import PreparedImage, prepare_image
from .verification import KeyStore, has_signature, parse_json

logger = logging.getLogger("django_wxpay_media.wechatpay")

DEFAULT_BASE_URL = "https://api.mch.weixin.qq.com"
BACKUP_BASE_URL = "https://api2.mch.weixin.qq.com"
UPLOAD_PATH = "/v3/merchant-service/images/upload"
CERTIFICATES_PATH = "/v3/certificates"
#: A Retry-After longer than this is an outage, not a pause: give up instead.
MAX_RETRY_WAIT = 60.0


def _version() -> str:
    try:
        return metadata.version("django-wxpay-media")
    except metadata.PackageNotFoundError:  # running from a checkout that was never installed
        return "0+unknown"


USER_AGENT = (
    f"django-wxpay-media/{_version()} requests/{requests.__version__} "
    f"({platform.system()}) Python/{platform.python_version()}"
)


@dataclass(frozen=True)
class UploadResult:
    media_id: str
    request_id: str
    attempts: int


@dataclass
class _Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def request_id(self) -> str | None:
        return self.headers.get("Request-ID")


class _Retry(Exception):
    """Internal: this attempt failed in a way that may be retried."""

    def __init__(self, error: errors.WeChatPayError, wait: float | None = None) -> None:
        self.error = error
        self.wait = wait


def _connection_not_made(err: requests.ConnectionError) -> bool:
    """True when the TCP/TLS connection was never established, so nothing was sent."""
    if isinstance(err, requests.exceptions.ConnectTimeout):
        return True
    reason = err.args[0] if err.args else None
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the cause
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


class WeChatPayClient:
    """Uploads feedback images for one merchant.

    ``private_key`` is the merchant API key (``apiclient_key.pem``) and
    ``merchant_serial_no`` its certificate's serial. Answers are verified with the
    WeChat Pay public key (``public_key`` and ``public_key_id``), with platform
    certificates downloaded using ``apiv3_key``, or with both.
    """

    def __init__(
        self,
        *,
        mchid: str,
        merchant_serial_no: str,
        private_key: PemInput | rsa.RSAPrivateKey,
        public_key: PemInput | rsa.RSAPublicKey | None = None,
        public_key_id: str | None = None,
        apiv3_key: str | bytes | None = None,
        base_url: str = DEFAULT_BASE_URL,
        backup_base_url: str | None = None,
        timeout: float = 10.0,
        max_retries: int = 3,
        retry_backoff: float = 0.5,
        session: requests.Session | None = None,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        if not mchid or not merchant_serial_no:
            raise errors.ConfigurationError("mchid and merchant_serial_no are required.")
        self.signer = Signer.from_pem(mchid, merchant_serial_no, private_key)
        self.keys = KeyStore(public_key=public_key, public_key_id=public_key_id, apiv3_key=apiv3_key)
        self.keys.fetch_certificates = self._fetch_certificates
        self.base_url = base_url.rstrip("/")
        if urlsplit(self.base_url).scheme not in ("http", "https"):
            raise errors.ConfigurationError(f"The API base URL must be http(s), not {base_url!r}.")
        # Fail over only from WeChat's own primary host; a custom host is the user's business.
        if backup_base_url is None and self.base_url == DEFAULT_BASE_URL:
            backup_base_url = BACKUP_BASE_URL
        self.backup_base_url = backup_base_url.rstrip("/") if backup_base_url else None
        self.timeout = timeout
        self.max_retries = max(0, int(max_retries))
        self.retry_backoff = retry_backoff
        self.session = session or requests.Session()
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"<WeChatPayClient mchid={self.signer.mchid!r} base_url={self.base_url!r}>"

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

        def attempt() -> _Answer:
            boundary = new_boundary()
            headers = {
                "Authorization": self.signer.authorization("POST", UPLOAD_PATH, meta),
                "Content-Type": content_type(boundary),
            }
            body = build_body(meta, image.filename, image.data, image.content_type, boundary)
            return self._exchange("POST", UPLOAD_PATH, body, headers)

        answer, attempts = self._with_retries(attempt)
        data = parse_json(answer.body, status=answer.status, request_id=answer.request_id)
        media_id = data.get("media_id") if isinstance(data, dict) else None
        if not isinstance(media_id, str) or not media_id:
            raise errors.InvalidResponseError(
                "The answer has no media_id.", status=answer.status, request_id=answer.request_id
            )
        return UploadResult(media_id=media_id, request_id=answer.request_id or "", attempts=attempts)

    def upload_bytes(self, data: bytes, filename: str | None = None) -> UploadResult:
        """Validate ``data`` (see :func:`~.validation.prepare_image`) and upload it."""
        return self.upload_image(prepare_image(data, filename))

    # -- transport ------------------------------------------------------------------

    def _fetch_certificates(self) -> tuple[Mapping[str, str], bytes]:
        def attempt() -> _Answer:
            headers = {"Authorization": self.signer.authorization("GET", CERTIFICATES_PATH, "")}
            serial = self.keys.known_serial()  # none before the first download
            if serial:
                headers["Wechatpay-Serial"] = serial
            return self._exchange("GET", CERTIFICATES_PATH, None, headers, verify=False)

        answer, _ = self._with_retries(attempt)
        return answer.headers, answer.body  # KeyStore verifies it against what it delivered

    def _with_retries(self, attempt: Callable[[], _Answer]) -> tuple[_Answer, int]:
        number = 0
        while True:
            number += 1
            try:
                return attempt(), number
            except _Retry as retry:
                error = retry.error
                if isinstance(error, errors.TransportError):
                    error.attempts = number
                if number > self.max_retries:
                    raise error from error.__cause__
                if retry.wait is not None and retry.wait > MAX_RETRY_WAIT:
                    raise error from error.__cause__
                wait = self._backoff(number, retry.wait)
                logger.warning("WeChat Pay attempt %d failed (%s); retrying in %.2fs", number, error, wait)
                self._sleep(wait)

    def _backoff(self, number: int, retry_after: float | None) -> float:
        # Exponential with full jitter around the nominal delay, never below Retry-After.
        nominal = self.retry_backoff * (2 ** (number - 1))
        wait = nominal * (0.5 + random.random())
        if retry_after is not None:
            wait = max(wait, retry_after)
        return min(wait, MAX_RETRY_WAIT)

    def _exchange(
        self,
        method: str,
        path: str,
        body: bytes | None,
        headers: dict[str, str],
        *,
        verify: bool = True,
    ) -> _Answer:
        """One attempt: send (failing over if the connection was never made), then judge the answer."""
        headers = {
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            **headers,
        }
        if verify:
            headers["Wechatpay-Serial"] = self.keys.accepted_serial()
        answer = self._send(method, path, body, headers)
        if 200 <= answer.status < 300:
            if verify:
                self.keys.verify(answer.headers, answer.body, status=answer.status)
            return answer
        raise self._error_for(answer)

    def _send(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> _Answer:
        urls = [self.base_url + path]
        if self.backup_base_url:
            urls.append(self.backup_base_url + path)
        for index, url in enumerate(urls):
            try:
                response = self.session.request(method, url, data=body, headers=headers, timeout=self.timeout)
                return _Answer(response.status_code, response.headers, response.content)
            except requests.ConnectionError as err:
                not_made = _connection_not_made(err)
                if not_made and index + 1 < len(urls):
                    logger.warning("Cannot connect to %s; failing over to %s", url, urls[index + 1])
                    continue
                cls = errors.WeChatPayTimeout if isinstance(err, requests.exceptions.ConnectTimeout) else errors.WeChatPayConnectionError
                error = cls(f"Cannot reach WeChat Pay at {url}: {type(err).__name__}", url=url)
                error.__cause__ = err
                raise _Retry(error) from err
            except requests.Timeout as err:
                # The request was sent and may have been performed: not retried here,
                # so an image is not uploaded twice by accident.
                raise errors.WeChatPayTimeout(
                    f"WeChat Pay did not answer within {self.timeout} s ({url}).", url=url
                ) from err
            except requests.RequestException as err:
                raise errors.WeChatPayConnectionError(f"Request to {url} failed: {type(err).__name__}", url=url) from err
        raise AssertionError("unreachable")  # pragma: no cover

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
        code = str(data.get("code") or "") or None
        cls = errors.api_error_for(answer.status, code)
        error = cls(
            str(data.get("message") or ""),
            status=answer.status,
            code=code,
            request_id=answer.request_id,
            verified=verified,
            retry_after=_retry_after(answer.headers),
            detail=data.get("detail"),
        )
        return _Retry(error, error.retry_after) if retryable else error


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare here, and backoff still applies
