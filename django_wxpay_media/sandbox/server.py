"""The :class:`Sandbox` facade: a strict stand-in for WeChat Pay APIv3 on loopback.

It puts together the HTTP plumbing (:mod:`.httpd`), the API (:mod:`.api`), answer
signing (:mod:`.answers`) and faults (:mod:`.faults`), and keeps the public interface
users and the pytest fixtures rely on.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import requests as http_requests

from .answers import MODES, AnswerSigner
from .api import CERTIFICATES_PATH, Api
from .complaints import ComplaintDesk
from .faults import UPLOAD_PATH, Fault, FaultQueue
from .httpd import SandboxHTTPServer
from .keys import DEFAULT_MCHID, PlatformCertificate, SandboxKeys
from .records import ReceivedRequest, UploadedImage

__all__ = ["CERTIFICATES_PATH", "DEFAULT_MAX_BODY", "MODES", "UPLOAD_PATH", "Sandbox"]

#: Larger bodies are refused with 413 without being read (the API takes 2 MB files).
DEFAULT_MAX_BODY = 8 * 1024 * 1024


class Sandbox:
    """A local WeChat Pay APIv3 stand-in for the image upload and the complaint APIs.

    ``mode`` decides which key signs answers: ``"public_key"`` (the WeChat Pay public
    key, serial ``PUB_KEY_ID_…``), ``"certificate"`` (the newest valid platform
    certificate; ``GET /v3/certificates`` serves them encrypted with the APIv3 key) or
    ``"both"`` (migration: the request's ``Wechatpay-Serial`` header chooses; the
    public key when absent). ``keys`` default to a freshly generated
    :class:`SandboxKeys`; tests should pass :meth:`SandboxKeys.shared`.

    Use as a context manager (``with Sandbox() as sb: …``) or call :meth:`start`
    and :meth:`stop`. ``on_request`` is called with each :class:`ReceivedRequest`
    after it is recorded (the CLI logs with it). Complaints are seeded with
    :meth:`seed_complaint` and announced with :meth:`notify`.
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
        self._requested_port = port
        self._signer = AnswerSigner(mode, self.keys)
        self._faults = FaultQueue()
        self._stopping = threading.Event()
        self._api = Api(
            mchid=self.mchid,
            keys=self.keys,
            signer=self._signer,
            faults=self._faults,
            stopping=self._stopping,
            max_body_size=max_body_size,
            on_request=on_request,
        )
        self._desk = ComplaintDesk(
            mchid=self.mchid,
            keys=self.keys,
            signer=self._signer,
            issued_media_ids=lambda: self._api.issued_media_ids,
            base_url=lambda: self._served_url,
        )
        self._api.add_routes(self._desk.routes())
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._served_url = ""  # the base_url of the last start: media_url keeps naming it after stop()

    def __repr__(self) -> str:
        where = self.base_url if self._server else "not running"
        return f"<Sandbox mode={self.mode} mchid={self.mchid} {where}>"

    @property
    def on_request(self) -> Callable[[ReceivedRequest], None] | None:
        """Called with each :class:`ReceivedRequest` after it is recorded."""
        return self._api.on_request

    @on_request.setter
    def on_request(self, callback: Callable[[ReceivedRequest], None] | None) -> None:
        self._api.on_request = callback

    @property
    def max_body_size(self) -> int:
        """Larger request bodies are refused with 413 unread."""
        return self._api.max_body_size

    # Life cycle ----------------------------------------------------------------------

    def start(self) -> Self:
        """Bind the socket and serve in a daemon thread; returns ``self``."""
        if self._server is not None:
            raise RuntimeError("the sandbox is already running")
        self._stopping.clear()
        server = SandboxHTTPServer((self.host, self._requested_port), self._api)
        thread = threading.Thread(
            target=server.serve,
            name=f"wxpay-sandbox-{server.server_address[1]}",
            daemon=True,
        )
        self._server, self._thread = server, thread
        self._served_url = self.base_url
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
        result: dict[str, Any] = {
            "MCHID": self.mchid,
            "MERCHANT_SERIAL_NO": keys.merchant_serial_no,
        }
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
        # Every mode: complaint notifications are encrypted with it even without certificates.
        result["APIV3_KEY"] = keys.apiv3_key
        result["API_BASE_URL"] = self.base_url
        return result

    # What happened -----------------------------------------------------------------------

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Every request that reached the server (any path, accepted or not), in order (a copy)."""
        return self._api.requests

    @property
    def uploads(self) -> list[UploadedImage]:
        """Every accepted upload, in order (a copy). Faulted requests create none."""
        return self._api.uploads

    @property
    def certificate_downloads(self) -> int:
        """How many ``GET /v3/certificates`` were answered normally (200)."""
        return self._api.certificate_downloads

    @property
    def issued_media_ids(self) -> dict[str, str]:
        """Every media_id ever issued by this sandbox, mapped to the file's sha256 (a copy)."""
        return self._api.issued_media_ids

    @property
    def certificates(self) -> list[PlatformCertificate]:
        """The platform certificates listed by ``GET /v3/certificates`` (a copy)."""
        return self._signer.certificates

    @property
    def pending_faults(self) -> list[Fault]:
        """Faults still queued (a copy)."""
        return self._faults.pending

    def reset(self) -> None:
        """Forget requests, uploads, queued faults, seen nonces and the download count.

        Keys, certificates (rotated ones included), issued media ids, complaints and the
        notification URL stay.
        """
        self._api.reset()
        self._faults.clear()

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
        return self._faults.add(Fault.create(kind, count, path, **opts))

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        self._faults.clear()

    def rotate_certificate(self, *, retire_old: bool = False) -> PlatformCertificate:
        """Add a new platform certificate and sign with it from now on.

        The old ones stay listed (until they expire) unless ``retire_old``.
        """
        cert = PlatformCertificate.generate()
        self._signer.add_certificate(cert, retire_old=retire_old)
        return cert

    def add_expired_certificate(self) -> PlatformCertificate:
        """List an already expired certificate in ``/v3/certificates`` (never signs)."""
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        cert = PlatformCertificate.generate(
            not_before=now - dt.timedelta(days=5 * 365),
            not_after=now - dt.timedelta(days=1),
        )
        # Listed first: older than everything else, so never "the newest".
        self._signer.add_certificate(cert, first=True)
        return cert

    # Complaints ----------------------------------------------------------------------------

    def seed_complaint(
        self,
        *,
        complaint_id: str | None = None,
        state: str = "PENDING",
        problem_type: str = "REFUND",
        problem_description: str = "商品未收到，申请退款",
        complaint_detail: str = "付款后一直没有收到商品，联系商家也没有回复，请尽快退款。",
        complainted_mchid: str | None = None,
        payer_phone: str = "13800138000",
        amount: int = 1000,
        out_trade_no: str | None = None,
        transaction_id: str | None = None,
        images: int | Sequence[bytes] = 2,
        complaint_time: dt.datetime | str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create a complaint as a consumer would; returns its detail JSON.

        ``complainted_mchid`` defaults to this sandbox's mchid (a partner names a
        sub-merchant); ``payer_phone`` is served RSA-OAEP encrypted with the merchant's
        public key; ``amount`` is in fen; ``images`` is a number of small PNG/JPEG
        pictures (or a list of PNG/JPEG bytes) served by
        ``GET /v3/merchant-service/images/{media_id}``, listed as full ``media_url``s
        with percent-encoded ids. ``complaint_time`` defaults to now. ``extra`` sets
        detail fields over the defaults (``need_immediate_service``, ``user_tag_list``,
        ``user_complaint_times``...). Ids are generated where not given. The sandbox must
        be running (the URLs name it).
        """
        self.port  # noqa: B018 - raises while not running: media_url needs the address
        return self._desk.seed(
            complaint_id=complaint_id,
            state=state,
            problem_type=problem_type,
            problem_description=problem_description,
            complaint_detail=complaint_detail,
            complainted_mchid=complainted_mchid,
            payer_phone=payer_phone,
            amount=amount,
            out_trade_no=out_trade_no,
            transaction_id=transaction_id,
            images=images,
            complaint_time=complaint_time,
            extra=extra,
        )

    def forget_complaints(self) -> None:
        """Forget every complaint seeded or received (a fresh desk; requests and faults stay)."""
        self._desk.forget()

    def consumer_writes(self, complaint_id: str, text: str = "请尽快处理，谢谢。") -> None:
        """The consumer writes again on ``complaint_id``: a USER_RESPONSE history step, and
        ``incoming_user_response`` true until the merchant replies. Notify with
        :meth:`notification` (``action_type="USER_RESPONSE"``). ``KeyError`` for an unknown id."""
        self._desk.consumer_writes(complaint_id, text)

    @property
    def complaints(self) -> dict[str, dict[str, Any]]:
        """Every complaint's current detail JSON, by complaint_id (copies)."""
        return self._desk.complaints

    def complaint_replies(self, complaint_id: str) -> list[dict[str, Any]]:
        """The JSON bodies of the accepted replies to ``complaint_id``, in order.

        Raises ``KeyError`` for an unknown complaint.
        """
        return self._desk.replies(complaint_id)

    def complaint_immediate_messages(self, complaint_id: str) -> list[dict[str, Any]]:
        """The instant-service bodies accepted for ``complaint_id`` (once per ``idempotent_id``)."""
        return self._desk.immediate_messages(complaint_id)

    def complaint_refund_updates(self, complaint_id: str) -> list[dict[str, Any]]:
        """The JSON bodies of the accepted refund decisions on ``complaint_id``, in order."""
        return self._desk.refund_updates(complaint_id)

    @property
    def complaint_notification_url(self) -> str | None:
        """The URL registered with ``/v3/merchant-service/complaint-notifications``, or ``None``."""
        return self._desk.notification_url

    def notification(
        self,
        complaint_id: str,
        action_type: str = "CREATE_COMPLAINT",
        *,
        event_type: str | None = None,
        notification_id: str | None = None,
        timestamp: int | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """The signed headers and JSON body WeChat Pay would POST about ``complaint_id``.

        The resource ``{complaint_id, action_type}`` is AEAD_AES_256_GCM-encrypted under
        the APIv3 key (``settings()["APIV3_KEY"]``); ``event_type`` defaults to
        ``COMPLAINT.CREATE`` for ``CREATE_COMPLAINT``, else ``COMPLAINT.STATE_CHANGE``;
        ``notification_id`` to a new UUID; ``timestamp`` (Unix seconds, signed) to now.
        """
        return self._desk.notification(
            complaint_id, action_type, event_type=event_type, notification_id=notification_id, timestamp=timestamp
        )

    def notify(
        self, complaint_id: str, action_type: str = "CREATE_COMPLAINT", url: str | None = None, *, timeout: float = 10
    ) -> int:
        """POST :meth:`notification` to ``url`` or the registered URL; returns the HTTP status.

        Redirects are not followed. Raises ``RuntimeError`` when there is no URL and
        ``requests``' exceptions when the site cannot be reached.
        """
        target = url or self.complaint_notification_url
        if not target:
            raise RuntimeError("no complaint notification URL is registered; pass url=...")
        headers, body = self.notification(complaint_id, action_type)
        response = http_requests.post(target, data=body, headers=headers, timeout=timeout, allow_redirects=False)
        response.close()
        return int(response.status_code)
