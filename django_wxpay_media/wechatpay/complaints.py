"""Consumer complaints 2.0 (消费者投诉2.0): the protocol calls, free of Django.

Every call goes through :meth:`WeChatPayClient.request_json` (signed, verified,
retried, typed errors) or :meth:`WeChatPayClient.download` (the unsigned image
answer, checked to be an image). Answers become small frozen dataclasses that
keep the whole JSON object in ``raw``: WeChat adds fields over time, and a new
field must never break parsing (WxJava issues 2841, 2947).

Limits WeChat documents are checked here, before anything is sent; the length of
a reply is counted in characters, as WeChat counts it (:func:`text_length`).

Notifications (投诉通知回调) are verified exactly as API answers are (same key
store: ±5 minutes, SIGNTEST probes rejected, known serial) and then decrypted
with the APIv3 key; ``payer_phone`` is decrypted with the merchant private key
(RSA-OAEP with SHA-1, as WeChat's 敏感信息加解密 specifies).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from . import errors
from .keys import check_apiv3_key
from .verification import SIGNATURE_HEADERS, KeyStore

if TYPE_CHECKING:
    from .client import Download, WeChatPayClient

COMPLAINTS_PATH = "/v3/merchant-service/complaints-v2"
NOTIFICATION_URL_PATH = "/v3/merchant-service/complaint-notifications"

#: ``limit`` of one page of the complaint list (1–50).
MAX_LIST_LIMIT = 50
#: ``limit`` of one page of negotiation history (1–300).
MAX_HISTORY_LIMIT = 300
#: The list's ``begin_date``..``end_date`` may span at most this many days.
MAX_WINDOW_DAYS = 30
#: ``response_content`` (the 2025 page; the 2024 page said 200).
MAX_RESPONSE_CONTENT = 500
#: ``response_images`` / ``reject_media_list``.
MAX_IMAGES = 4
MAX_JUMP_URL = 512
MAX_JUMP_URL_TEXT = 10
MAX_REJECT_REASON = 200
MAX_REMARK = 200
MAX_NOTIFICATION_URL = 255

STATES = ("PENDING", "PROCESSING", "PROCESSED")
PROBLEM_TYPES = ("REFUND", "SERVICE_NOT_WORK", "OTHERS")
REFUND_ACTIONS = ("APPROVE", "REJECT")

# Complaint ids are digits in practice; anything that could change the path is refused.
_ID_RE = re.compile(r"\A[0-9A-Za-z_-]{1,64}\Z")  # \Z: "$" would accept a trailing newline


class ComplaintRequestError(errors.WeChatPayError, ValueError):
    """A complaint call that WeChat Pay would refuse; raised before anything is sent.

    ``code`` says which rule (e.g. ``CONTENT_TOO_LONG``); ``params`` hold the numbers
    a translated message needs (``limit``, ``length``...).
    """

    code = "INVALID_COMPLAINT_REQUEST"

    def __init__(self, code: str, message: str, **params: Any) -> None:
        super().__init__(message, **params)
        self.code = code


class NotificationError(errors.WeChatPayError):
    """A complaint notification that cannot be read (bad JSON, undecryptable resource)."""

    code = "INVALID_NOTIFICATION"


# -- helpers ----------------------------------------------------------------------------


def text_length(text: str) -> int:
    """The length of ``text`` as WeChat counts it: characters (code points), not bytes."""
    return len(text)


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _check_id(complaint_id: str) -> str:
    if not isinstance(complaint_id, str) or not _ID_RE.match(complaint_id):
        raise ComplaintRequestError("INVALID_COMPLAINT_ID", f"Not a complaint id: {complaint_id!r}.")
    return complaint_id


def _check_length(code: str, name: str, value: str, limit: int) -> None:
    length = text_length(value)
    if length > limit:
        raise ComplaintRequestError(
            code, f"{name} has {length} characters; WeChat Pay accepts {limit}.", length=length, limit=limit
        )


def _check_media_ids(name: str, media_ids: Sequence[str]) -> list[str]:
    ids = list(media_ids)
    if len(ids) > MAX_IMAGES:
        raise ComplaintRequestError(
            "TOO_MANY_IMAGES",
            f"{name} has {len(ids)} images; WeChat Pay accepts {MAX_IMAGES}.",
            count=len(ids),
            limit=MAX_IMAGES,
        )
    if any(not isinstance(media_id, str) or not media_id for media_id in ids):
        raise ComplaintRequestError("INVALID_MEDIA_ID", f"{name} holds an empty media_id.")
    return ids


def _check_https(code: str, url: str, limit: int) -> None:
    if not isinstance(url, str) or not url.startswith("https://") or len(url) <= len("https://"):
        raise ComplaintRequestError(code, f"The URL must be HTTPS: {url!r}.", limit=limit)
    _check_length(code, "The URL", url, limit)


def _path(complaint_id: str, suffix: str = "") -> str:
    return f"{COMPLAINTS_PATH}/{quote(_check_id(complaint_id), safe='')}{suffix}"


# -- typed values -------------------------------------------------------------------------


@dataclass(frozen=True)
class ComplaintOrder:
    """One entry of ``complaint_order_info``."""

    transaction_id: str
    out_trade_no: str
    amount: int | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> ComplaintOrder:
        data = data if isinstance(data, dict) else {}
        return cls(_str(data.get("transaction_id")), _str(data.get("out_trade_no")), _int(data.get("amount")), data)


@dataclass(frozen=True)
class ComplaintMedia:
    """One entry of ``complaint_media_list``: a media type and its image URLs."""

    media_type: str
    media_urls: tuple[str, ...]
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> ComplaintMedia:
        data = data if isinstance(data, dict) else {}
        urls = data.get("media_url")
        if isinstance(urls, str):  # tolerate a single URL where a list is documented
            urls = [urls]
        return cls(_str(data.get("media_type")), tuple(u for u in _list(urls) if isinstance(u, str) and u), data)


def _media_list(value: Any) -> tuple[ComplaintMedia, ...]:
    # The detail documents a list; negotiation history sends one object (WxJava 2841).
    if isinstance(value, dict):
        value = [value]
    return tuple(ComplaintMedia.from_json(item) for item in _list(value))


@dataclass(frozen=True)
class Complaint:
    """A complaint as the list and the detail describe it; ``raw`` is the whole JSON object.

    ``payer_phone`` is still encrypted (see :func:`decrypt_payer_phone`).
    """

    complaint_id: str
    complaint_time: str
    complaint_detail: str
    complaint_state: str
    complainted_mchid: str
    problem_description: str
    problem_type: str
    apply_refund_amount: int | None
    payer_phone: str
    payer_openid: str
    orders: tuple[ComplaintOrder, ...]
    media: tuple[ComplaintMedia, ...]
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any, *, request_id: str | None = None) -> Complaint:
        """Parse one complaint; only a missing ``complaint_id`` is an error."""
        if not isinstance(data, dict) or not _str(data.get("complaint_id")):
            raise errors.InvalidResponseError("A complaint without complaint_id.", request_id=request_id)
        return cls(
            complaint_id=_str(data["complaint_id"]),
            complaint_time=_str(data.get("complaint_time")),
            complaint_detail=_str(data.get("complaint_detail")),
            complaint_state=_str(data.get("complaint_state")),
            complainted_mchid=_str(data.get("complainted_mchid")),
            problem_description=_str(data.get("problem_description")),
            problem_type=_str(data.get("problem_type")),
            apply_refund_amount=_int(data.get("apply_refund_amount")),
            payer_phone=_str(data.get("payer_phone")),
            payer_openid=_str(data.get("payer_openid")),
            orders=tuple(ComplaintOrder.from_json(o) for o in _list(data.get("complaint_order_info"))),
            media=_media_list(data.get("complaint_media_list")),
            raw=data,
        )

    @property
    def image_urls(self) -> list[str]:
        """Every consumer image URL of the complaint, in order."""
        return [url for media in self.media for url in media.media_urls]


@dataclass(frozen=True)
class HistoryEntry:
    """One step of the negotiation history (协商历史)."""

    log_id: str
    operator: str
    operate_time: str
    operate_type: str
    operate_details: str
    image_list: tuple[str, ...]
    media: tuple[ComplaintMedia, ...]
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any, *, request_id: str | None = None) -> HistoryEntry:
        if not isinstance(data, dict) or not _str(data.get("log_id")):
            raise errors.InvalidResponseError("A negotiation history entry without log_id.", request_id=request_id)
        return cls(
            log_id=_str(data["log_id"]),
            operator=_str(data.get("operator")),
            operate_time=_str(data.get("operate_time")),
            operate_type=_str(data.get("operate_type")),
            operate_details=_str(data.get("operate_details")),
            image_list=tuple(u for u in _list(data.get("image_list")) if isinstance(u, str) and u),
            media=_media_list(data.get("complaint_media_list")),
            raw=data,
        )


@dataclass(frozen=True)
class Page:
    """One page of a list answer: ``items`` plus WeChat's paging numbers."""

    items: tuple[Any, ...]
    limit: int
    offset: int
    total_count: int | None
    request_id: str | None = None

    @property
    def next_offset(self) -> int | None:
        """The offset of the next page, or ``None`` after the last one."""
        if not self.items:
            return None
        following = self.offset + len(self.items)
        if self.total_count is not None and following >= self.total_count:
            return None
        if self.total_count is None and len(self.items) < self.limit:
            return None
        return following


@dataclass(frozen=True)
class Notification:
    """A verified, decrypted complaint notification."""

    id: str
    create_time: str
    event_type: str
    summary: str
    complaint_id: str
    action_type: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    resource: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


# -- list, detail, history ---------------------------------------------------------------


def _page(answer: Any, parse: Any, limit: int, offset: int) -> Page:
    data = answer.data if isinstance(answer.data, dict) else None
    if data is None or not isinstance(data.get("data", []), list):
        raise errors.InvalidResponseError(
            "A list answer without a data array.", status=answer.status, request_id=answer.request_id
        )
    items = tuple(parse(item, request_id=answer.request_id) for item in _list(data.get("data")))
    answered_offset = _int(data.get("offset"))
    return Page(
        items=items,
        limit=_int(data.get("limit")) or limit,
        offset=offset if answered_offset is None else answered_offset,
        total_count=_int(data.get("total_count")),
        request_id=answer.request_id,
    )


def list_complaints(
    client: WeChatPayClient,
    begin_date: dt.date,
    end_date: dt.date,
    *,
    limit: int = MAX_LIST_LIMIT,
    offset: int = 0,
    complainted_mchid: str | None = None,
) -> Page:
    """One page of ``GET /v3/merchant-service/complaints-v2`` (items: :class:`Complaint`).

    The dates span at most :data:`MAX_WINDOW_DAYS` days. A service provider leaves
    ``complainted_mchid`` out to get every sub-merchant's complaints.
    """
    if end_date < begin_date:
        raise ComplaintRequestError("INVALID_DATE_RANGE", "end_date is before begin_date.")
    if (end_date - begin_date).days >= MAX_WINDOW_DAYS:
        raise ComplaintRequestError(
            "DATE_RANGE_TOO_LONG", f"The date range spans more than {MAX_WINDOW_DAYS} days.", limit=MAX_WINDOW_DAYS
        )
    if not 1 <= limit <= MAX_LIST_LIMIT or offset < 0:
        raise ComplaintRequestError("INVALID_PAGE", f"limit must be 1–{MAX_LIST_LIMIT} and offset ≥ 0.")
    query: dict[str, Any] = {
        "limit": limit,
        "offset": offset,
        "begin_date": begin_date.isoformat(),
        "end_date": end_date.isoformat(),
    }
    if complainted_mchid:
        query["complainted_mchid"] = complainted_mchid
    answer = client.request_json("GET", COMPLAINTS_PATH, query=query)
    return _page(answer, Complaint.from_json, limit, offset)


def iter_complaints(
    client: WeChatPayClient,
    begin_date: dt.date,
    end_date: dt.date,
    *,
    complainted_mchid: str | None = None,
    page_size: int = MAX_LIST_LIMIT,
) -> Iterator[Complaint]:
    """Every complaint between the two dates (≤ 30 days), page after page."""
    offset: int | None = 0
    while offset is not None:
        page = list_complaints(
            client, begin_date, end_date, limit=page_size, offset=offset, complainted_mchid=complainted_mchid
        )
        yield from page.items
        offset = page.next_offset


#: WeChat Pay's dates (``begin_date``, ``end_date``) are Beijing dates.
BEIJING = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")


def beijing_today(now: dt.datetime | None = None) -> dt.date:
    """Today in Beijing (at ``now``, an aware time; default: now), whatever this machine's time zone."""
    return (now or dt.datetime.now(dt.UTC)).astimezone(BEIJING).date()


def date_windows(days: int, *, today: dt.date | None = None) -> list[tuple[dt.date, dt.date]]:
    """The last ``days`` days (today in Beijing included) cut into windows the list accepts, newest first."""
    if days < 1:
        raise ComplaintRequestError("INVALID_DAYS", "days must be at least 1.")
    end = today or beijing_today()
    first = end - dt.timedelta(days=days - 1)
    windows = []
    while end >= first:
        begin = max(first, end - dt.timedelta(days=MAX_WINDOW_DAYS - 1))
        windows.append((begin, end))
        end = begin - dt.timedelta(days=1)
    return windows


def iter_recent_complaints(
    client: WeChatPayClient,
    days: int,
    *,
    today: dt.date | None = None,
    complainted_mchid: str | None = None,
) -> Iterator[Complaint]:
    """Every complaint of the last ``days`` days, window after window, each once."""
    seen: set[str] = set()
    for begin, end in date_windows(days, today=today):
        for complaint in iter_complaints(client, begin, end, complainted_mchid=complainted_mchid):
            if complaint.complaint_id not in seen:  # an answer may repeat one across pages
                seen.add(complaint.complaint_id)
                yield complaint


def get_complaint(client: WeChatPayClient, complaint_id: str) -> Complaint:
    """``GET …/complaints-v2/{complaint_id}``: the detail, which is the truth."""
    answer = client.request_json("GET", _path(complaint_id))
    return Complaint.from_json(answer.data, request_id=answer.request_id)


def list_history(client: WeChatPayClient, complaint_id: str, *, limit: int = 100, offset: int = 0) -> Page:
    """One page of ``…/negotiation-historys`` (items: :class:`HistoryEntry`)."""
    if not 1 <= limit <= MAX_HISTORY_LIMIT or offset < 0:
        raise ComplaintRequestError("INVALID_PAGE", f"limit must be 1–{MAX_HISTORY_LIMIT} and offset ≥ 0.")
    answer = client.request_json(
        "GET", _path(complaint_id, "/negotiation-historys"), query={"limit": limit, "offset": offset}
    )
    return _page(answer, HistoryEntry.from_json, limit, offset)


def iter_history(
    client: WeChatPayClient, complaint_id: str, *, page_size: int = MAX_HISTORY_LIMIT
) -> Iterator[HistoryEntry]:
    """The whole negotiation history of one complaint, oldest page first."""
    offset: int | None = 0
    while offset is not None:
        page = list_history(client, complaint_id, limit=page_size, offset=offset)
        yield from page.items
        offset = page.next_offset


# -- actions ----------------------------------------------------------------------------


def _need_mchid(complainted_mchid: str) -> str:
    # Always the complaint's own merchant: a service provider's mchid is not it.
    if not isinstance(complainted_mchid, str) or not complainted_mchid:
        raise ComplaintRequestError("MISSING_COMPLAINTED_MCHID", "complainted_mchid (from the complaint) is required.")
    return complainted_mchid


def reply_body(
    *,
    complainted_mchid: str,
    content: str,
    images: Sequence[str] = (),
    jump_url: str | None = None,
    jump_url_text: str | None = None,
) -> dict[str, Any]:
    """The JSON body of a reply, after every documented limit is checked."""
    if not isinstance(content, str) or not content.strip():
        raise ComplaintRequestError("EMPTY_CONTENT", "The reply has no text.", limit=MAX_RESPONSE_CONTENT)
    _check_length("CONTENT_TOO_LONG", "The reply", content, MAX_RESPONSE_CONTENT)
    body: dict[str, Any] = {"complainted_mchid": _need_mchid(complainted_mchid), "response_content": content}
    media_ids = _check_media_ids("The reply", images)
    if media_ids:
        body["response_images"] = media_ids
    if jump_url or jump_url_text:
        if not jump_url or not jump_url_text:
            raise ComplaintRequestError("INCOMPLETE_JUMP_LINK", "jump_url and jump_url_text go together.")
        _check_https("INVALID_JUMP_URL", jump_url, MAX_JUMP_URL)
        _check_length("JUMP_TEXT_TOO_LONG", "jump_url_text", jump_url_text, MAX_JUMP_URL_TEXT)
        body["jump_url"] = jump_url
        body["jump_url_text"] = jump_url_text
    return body


def reply(
    client: WeChatPayClient,
    complaint_id: str,
    *,
    complainted_mchid: str,
    content: str,
    images: Sequence[str] = (),
    jump_url: str | None = None,
    jump_url_text: str | None = None,
) -> str | None:
    """``POST …/{complaint_id}/response`` (回复用户); returns the Request-ID.

    ``images`` are ``media_id``s from the feedback image upload (≤ 4).
    """
    body = reply_body(
        complainted_mchid=complainted_mchid,
        content=content,
        images=images,
        jump_url=jump_url,
        jump_url_text=jump_url_text,
    )
    return client.request_json("POST", _path(complaint_id, "/response"), json=body).request_id


def complete(client: WeChatPayClient, complaint_id: str, *, complainted_mchid: str) -> str | None:
    """``POST …/{complaint_id}/complete`` (反馈处理完成); returns the Request-ID."""
    body = {"complainted_mchid": _need_mchid(complainted_mchid)}
    return client.request_json("POST", _path(complaint_id, "/complete"), json=body).request_id


def refund_progress_body(
    action: str,
    *,
    launch_refund_day: int | None = None,
    reject_reason: str | None = None,
    reject_images: Sequence[str] = (),
    remark: str | None = None,
) -> dict[str, Any]:
    """The JSON body of a refund decision, after every documented limit is checked."""
    if action not in REFUND_ACTIONS:
        raise ComplaintRequestError("INVALID_ACTION", f"action must be APPROVE or REJECT, not {action!r}.")
    body: dict[str, Any] = {"action": action}
    if action == "REJECT":
        # The reason is optional for WeChat Pay (4012467256); the admin form asks for one.
        if reject_reason:
            _check_length("REASON_TOO_LONG", "reject_reason", reject_reason, MAX_REJECT_REASON)
            body["reject_reason"] = reject_reason
        media_ids = _check_media_ids("reject_media_list", reject_images)
        if media_ids:
            body["reject_media_list"] = media_ids
    else:
        if reject_reason or reject_images:
            raise ComplaintRequestError("REJECT_FIELDS_ON_APPROVE", "An approval carries no reject reason or images.")
        if launch_refund_day is not None:
            if isinstance(launch_refund_day, bool) or not isinstance(launch_refund_day, int) or launch_refund_day < 0:
                raise ComplaintRequestError("INVALID_REFUND_DAY", "launch_refund_day must be 0 or more.")
            body["launch_refund_day"] = launch_refund_day
    if remark:
        _check_length("REMARK_TOO_LONG", "remark", remark, MAX_REMARK)
        body["remark"] = remark
    return body


def update_refund_progress(
    client: WeChatPayClient,
    complaint_id: str,
    action: str,
    *,
    launch_refund_day: int | None = None,
    reject_reason: str | None = None,
    reject_images: Sequence[str] = (),
    remark: str | None = None,
) -> str | None:
    """``POST …/{complaint_id}/update-refund-progress``; returns the Request-ID.

    APPROVE does not refund (the refund API does); the body carries no
    ``complainted_mchid``.
    """
    body = refund_progress_body(
        action,
        launch_refund_day=launch_refund_day,
        reject_reason=reject_reason,
        reject_images=reject_images,
        remark=remark,
    )
    return client.request_json("POST", _path(complaint_id, "/update-refund-progress"), json=body).request_id


def download_image(client: WeChatPayClient, media_url: str) -> Download:
    """A consumer image from its ``media_url`` (``client.download``: unsigned, checked to be an image)."""
    if not isinstance(media_url, str) or not media_url:
        raise ComplaintRequestError("INVALID_MEDIA_URL", "The image has no URL.")
    return client.download(media_url)


# -- notification URL ----------------------------------------------------------------------


def get_notification_url(client: WeChatPayClient) -> str | None:
    """The registered notification URL, or ``None`` when none is set."""
    try:
        answer = client.request_json("GET", NOTIFICATION_URL_PATH)
    except errors.WeChatPayAPIError as err:
        if err.code == "RESOURCE_NOT_EXISTS":
            return None
        raise
    data = answer.data if isinstance(answer.data, dict) else {}
    return _str(data.get("url")) or None


def _loopback_http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")


def set_notification_url(client: WeChatPayClient, url: str) -> str:
    """Register ``url`` (HTTPS, ≤ 255): created if none is set, else updated. Returns it.

    A plain-http loopback URL is accepted only while the client itself talks to a
    loopback host (the sandbox notifying a local site); WeChat Pay wants HTTPS.
    """
    if not (isinstance(url, str) and _loopback_http(url) and _loopback_http(client.base_url)):
        _check_https("INVALID_NOTIFICATION_URL", url, MAX_NOTIFICATION_URL)
    else:
        _check_length("INVALID_NOTIFICATION_URL", "The URL", url, MAX_NOTIFICATION_URL)
    method = "PUT" if get_notification_url(client) else "POST"
    answer = client.request_json(method, NOTIFICATION_URL_PATH, json={"url": url})
    data = answer.data if isinstance(answer.data, dict) else {}
    return _str(data.get("url")) or url


def delete_notification_url(client: WeChatPayClient) -> None:
    """Remove the registered notification URL."""
    client.request_json("DELETE", NOTIFICATION_URL_PATH)


# -- notifications and personal data --------------------------------------------------------


def _signature_headers(headers: Mapping[str, str]) -> dict[str, str]:
    # Servers and frameworks spell header names differently; the key store wants WeChat's.
    lowered = {str(name).lower(): value for name, value in headers.items()}
    wanted = (*SIGNATURE_HEADERS, "Wechatpay-Signature-Type", "Request-ID")
    return {name: lowered[name.lower()] for name in wanted if name.lower() in lowered}


def decrypt_resource(resource: Any, apiv3_key: str | bytes) -> bytes:
    """Decrypt an ``AEAD_AES_256_GCM`` resource (ciphertext base64, tag in its last 16 bytes)."""
    if not isinstance(resource, dict) or resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise NotificationError("The notification's resource is not AEAD_AES_256_GCM.")
    try:
        ciphertext = base64.b64decode(_str(resource.get("ciphertext")), validate=True)
        return AESGCM(check_apiv3_key(apiv3_key)).decrypt(
            _str(resource.get("nonce")).encode("utf-8"),
            ciphertext,
            _str(resource.get("associated_data")).encode("utf-8"),
        )
    except (InvalidTag, binascii.Error, ValueError):
        raise NotificationError("The notification's resource does not decrypt with the APIv3 key.") from None


def parse_notification(keys: KeyStore, apiv3_key: str | bytes, headers: Mapping[str, str], body: bytes) -> Notification:
    """Verify a complaint notification like an API answer, then decrypt it.

    Raises :class:`~.errors.SignatureVerificationError` (forged, stale, probe,
    unknown key) before anything is decrypted, and :class:`NotificationError`
    for a body or resource that cannot be read.
    """
    keys.verify(_signature_headers(headers), body)
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise NotificationError("The notification is not JSON.") from None
    if not isinstance(data, dict) or not _str(data.get("id")):
        raise NotificationError("The notification has no id.")
    plaintext = decrypt_resource(data.get("resource"), apiv3_key)
    try:
        resource = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise NotificationError("The notification's resource is not JSON.") from None
    if not isinstance(resource, dict) or not _str(resource.get("complaint_id")):
        raise NotificationError("The notification's resource names no complaint.")
    complaint_id = _str(resource.get("complaint_id"))
    _check_id(complaint_id)
    return Notification(
        id=_str(data["id"]),
        create_time=_str(data.get("create_time")),
        event_type=_str(data.get("event_type")),
        summary=_str(data.get("summary")),
        complaint_id=complaint_id,
        action_type=_str(resource.get("action_type")),
        raw=data,
        resource=resource,
    )


#: RSA-OAEP as WeChat's 敏感信息加解密 uses it: SHA-1 for the hash and MGF1.
_OAEP_SHA1 = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)  # noqa: S303 - the protocol's, not our choice


def decrypt_payer_phone(private_key: rsa.RSAPrivateKey, ciphertext: str) -> str:
    """The consumer's phone number from the complaint's encrypted ``payer_phone``.

    Personal data: decrypt only to show it, never store the result.
    """
    try:
        return private_key.decrypt(base64.b64decode(ciphertext, validate=True), _OAEP_SHA1).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise errors.WeChatPayError("payer_phone does not decrypt with the merchant private key.") from None
