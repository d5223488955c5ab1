"""The complaint API calls: list, detail, history, actions, notification URL.

Every call goes through :meth:`WeChatPayClient.request_json` (signed, verified,
retried, typed errors) or :meth:`WeChatPayClient.download` (the unsigned image
answer, checked to be an image).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit

from .. import errors
from ..client import is_loopback_url
from .checks import (
    MAX_HISTORY_LIMIT,
    MAX_LIST_LIMIT,
    MAX_NOTIFICATION_URL,
    MAX_REJECT_REASON,
    MAX_REMARK,
    MAX_WINDOW_DAYS,
    REFUND_ACTIONS,
    ComplaintRequestError,
    _check_https,
    _check_length,
    _check_media_ids,
    check_complaint_id,
    check_idempotent_id,
    check_instant_reply,
    check_reply,
    check_text,
)
from .types import Block, Complaint, HistoryEntry, Page, _int, _list, _str

if TYPE_CHECKING:
    from ..client import Download, WeChatPayClient

T = TypeVar("T")
#: The most pages one listing reads (50,000 complaints in one window, 300,000 history entries).
MAX_PAGES = 1000

COMPLAINTS_PATH = "/v3/merchant-service/complaints-v2"
NOTIFICATION_URL_PATH = "/v3/merchant-service/complaint-notifications"


def _path(complaint_id: str, suffix: str = "") -> str:
    return f"{COMPLAINTS_PATH}/{quote(check_complaint_id(complaint_id), safe='')}{suffix}"


# -- list, detail, history ---------------------------------------------------------------


def _page(answer: Any, parse: Callable[..., T], limit: int, offset: int) -> Page[T]:
    data = answer.data if isinstance(answer.data, dict) else None
    if data is None or not isinstance(data.get("data", []), list):
        raise errors.InvalidResponseError(
            "A list answer without a data array.", status=answer.status, request_id=answer.request_id
        )
    items = tuple(parse(item, request_id=answer.request_id) for item in _list(data.get("data")))
    # The limit and offset asked, not those echoed: an answer that always says
    # ``offset: 0`` must not send the paging loop back to the start.
    return Page(
        items=items, limit=limit, offset=offset, total_count=_int(data.get("total_count")), request_id=answer.request_id
    )


def _pages(fetch: Callable[[int], Page[T]], max_pages: int, start: int = 0) -> Iterator[Page[T]]:
    """Page after page (``fetch(offset)``, from ``start``), at most ``max_pages`` pages.

    The one paging loop of the list and the history: the next offset is the one
    asked plus the items received, and a list that goes on past ``max_pages`` is an
    :class:`~..errors.InvalidResponseError`, not an endless loop. Pages are fetched
    lazily, each let go before the next is fetched: a caller holds one page at a time.
    """
    offset: int | None = start
    for _ in range(max_pages):
        page = fetch(offset or 0)
        offset = page.next_offset
        yield page
        del page  # let this page go before the next is fetched and parsed: one page held, not two
        if offset is None:
            return
    raise errors.InvalidResponseError(f"The list goes on past {max_pages} pages; paging stopped.")


def _every(fetch: Callable[[int], Page[T]], max_pages: int, start: int = 0) -> Iterator[T]:
    """The items of :func:`_pages`, one after the other."""
    for page in _pages(fetch, max_pages, start):
        items = page.items
        del page
        yield from items
        del items


def list_complaints(
    client: WeChatPayClient,
    begin_date: dt.date,
    end_date: dt.date,
    *,
    limit: int = MAX_LIST_LIMIT,
    offset: int = 0,
    complainted_mchid: str | None = None,
) -> Page[Complaint]:
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
    max_pages: int = MAX_PAGES,
) -> Iterator[Complaint]:
    """Every complaint between the two dates (≤ 30 days), page after page (at most ``max_pages``)."""
    return _every(
        lambda offset: list_complaints(
            client, begin_date, end_date, limit=page_size, offset=offset, complainted_mchid=complainted_mchid
        ),
        max_pages,
    )


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


def iter_recent_pages(
    client: WeChatPayClient,
    days: int,
    *,
    today: dt.date | None = None,
    complainted_mchid: str | None = None,
) -> Iterator[tuple[Complaint, ...]]:
    """The complaints of the last ``days`` days as WeChat Pay lists them, a page at a time (window
    after window), each complaint once: a page holds those not listed before (it may be empty)."""
    seen: set[str] = set()
    for begin, end in date_windows(days, today=today):
        window = functools.partial(list_complaints, client, begin, end, complainted_mchid=complainted_mchid)
        for page in _pages(lambda offset: window(offset=offset), MAX_PAGES):  # noqa: B023 - used before the next window
            fresh = []
            for complaint in page.items:
                if complaint.complaint_id not in seen:  # an answer may repeat one across pages
                    seen.add(complaint.complaint_id)
                    fresh.append(complaint)
            del page
            yield tuple(fresh)
            del fresh


def iter_recent_complaints(
    client: WeChatPayClient,
    days: int,
    *,
    today: dt.date | None = None,
    complainted_mchid: str | None = None,
) -> Iterator[Complaint]:
    """Every complaint of the last ``days`` days, window after window, each once."""
    for page in iter_recent_pages(client, days, today=today, complainted_mchid=complainted_mchid):
        yield from page


def get_complaint(client: WeChatPayClient, complaint_id: str) -> Complaint:
    """``GET …/complaints-v2/{complaint_id}``: the detail, which is the truth."""
    answer = client.request_json("GET", _path(complaint_id))
    return Complaint.from_json(answer.data, request_id=answer.request_id)


def list_history(
    client: WeChatPayClient, complaint_id: str, *, limit: int = 100, offset: int = 0
) -> Page[HistoryEntry]:
    """One page of ``…/negotiation-historys`` (items: :class:`HistoryEntry`)."""
    if not 1 <= limit <= MAX_HISTORY_LIMIT or offset < 0:
        raise ComplaintRequestError("INVALID_PAGE", f"limit must be 1–{MAX_HISTORY_LIMIT} and offset ≥ 0.")
    answer = client.request_json(
        "GET", _path(complaint_id, "/negotiation-historys"), query={"limit": limit, "offset": offset}
    )
    return _page(answer, HistoryEntry.from_json, limit, offset)


def iter_history(
    client: WeChatPayClient,
    complaint_id: str,
    *,
    page_size: int = MAX_HISTORY_LIMIT,
    max_pages: int = MAX_PAGES,
    start: int = 0,
) -> Iterator[HistoryEntry]:
    """The negotiation history of one complaint from entry ``start`` on, oldest page first (at most ``max_pages``)."""
    return _every(lambda offset: list_history(client, complaint_id, limit=page_size, offset=offset), max_pages, start)


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
    """The JSON body of a reply, after every documented limit is checked (:func:`.checks.check_reply`)."""
    media_ids = check_reply(content, images, jump_url, jump_url_text)
    body: dict[str, Any] = {"complainted_mchid": _need_mchid(complainted_mchid), "response_content": content}
    if media_ids:
        body["response_images"] = media_ids
    if jump_url:
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


def instant_reply_body(*, complainted_mchid: str, blocks: Sequence[Block], idempotent_id: str) -> dict[str, Any]:
    """The JSON body of an instant-service reply, after :func:`.checks.check_instant_reply`."""
    items = check_instant_reply(blocks, check_idempotent_id(idempotent_id))
    return {
        "complainted_mchid": _need_mchid(complainted_mchid),
        "message": {"blocks": [block.to_json() for block in items]},
        "idempotent_id": idempotent_id,
    }


def respond_immediately(
    client: WeChatPayClient,
    complaint_id: str,
    *,
    complainted_mchid: str,
    blocks: Sequence[Block],
    idempotent_id: str,
) -> str:
    """``POST …/{complaint_id}/response-immediate-service`` (回复需要即时服务的投诉单); returns ``log_id``.

    For complaints with ``need_immediate_service``. The same ``idempotent_id`` makes
    WeChat Pay do it once, so this POST is declared idempotent to the client and
    retried (with the very same body) after a lost answer; keep the id to retry later.
    """
    body = instant_reply_body(complainted_mchid=complainted_mchid, blocks=blocks, idempotent_id=idempotent_id)
    answer = client.request_json("POST", _path(complaint_id, "/response-immediate-service"), json=body, idempotent=True)
    data = answer.data if isinstance(answer.data, dict) else {}
    log_id = data.get("log_id")
    if not isinstance(log_id, str) or not log_id:
        raise errors.InvalidResponseError(
            "An instant-service answer without a log_id.", status=answer.status, request_id=answer.request_id
        )
    return log_id


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
            check_text("reject_reason", reject_reason)
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
        check_text("remark", remark)
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
    # The client's own rule (is_loopback_url), for plain http only.
    return urlsplit(url).scheme == "http" and is_loopback_url(url)


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
