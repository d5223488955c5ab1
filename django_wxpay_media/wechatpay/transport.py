"""How one call travels: its deadline, retries and backoff, the shared 429 pause, failover, the answer read.

:class:`_Transport` is the part of :class:`~.client.WeChatPayClient` that sends a
signed request and reads its answer; the client adds the API (upload, JSON calls,
downloads) on top. Nothing here knows one API from another.
"""

from __future__ import annotations

import logging
import math
import os
import platform
import random
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import requests
import urllib3.exceptions

from . import errors
from .multipart import MultipartBody
from .signing import Signer
from .verification import KeyStore, has_signature, parse_json

logger = logging.getLogger("django_wxpay_media.wechatpay")

#: A Retry-After longer than this is an outage, not a pause: give up instead.
MAX_RETRY_WAIT = 60.0

#: The most of a JSON answer that is read; a longer answer is invalid.
MAX_JSON_ANSWER = 1024 * 1024

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


class _Transport:
    """Sending a request and reading its answer, with the state the client sets up."""

    signer: Signer
    keys: KeyStore
    base_url: str
    backup_base_url: str | None
    timeout: float
    max_retries: int
    retry_backoff: float
    deadline: float
    session: requests.Session
    _environment: dict[str, tuple[dict[str, str], bool | str]]
    _sleep: Callable[[float], Any]
    _clock: Callable[[], float]
    _gate: _Gate
    _local: threading.local

    def _bases(self) -> list[str]:
        return [self.base_url, self.backup_base_url] if self.backup_base_url else [self.base_url]

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
