"""Storing WeChat Pay's copies of a complaint and its history (no network)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import IntegrityError, connections, models, router, transaction
from django.utils import timezone

from ...wechatpay import complaints as wc
from ...wechatpay import errors
from .. import alerts, flags, moments
from ..models import Complaint, ComplaintImage, HistoryEntry, parse_time

#: How many of a complaint's consumer images are stored and shown (WeChat Pay may list
#: any number); the complaint's page says how many more there are.
MAX_CONSUMER_IMAGES = 30


def check_lengths(model: type[models.Model], values: Mapping[str, Any]) -> None:
    """Refuse a text from WeChat Pay longer than its column (SQLite would store it whole).

    Raises :class:`~..wechatpay.errors.InvalidResponseError` (nothing is stored,
    nothing truncated); the message names the field, never its value.
    """
    for name, value in values.items():
        limit = getattr(model._meta.get_field(name), "max_length", None)
        if isinstance(value, str) and limit is not None and len(value) > limit:
            raise errors.InvalidResponseError(
                f"WeChat Pay sent a {model.__name__}.{name} of {len(value)} characters; at most {limit} can be stored."
            )


def _values(detail: wc.Complaint, account: str, *, digest: bool) -> dict[str, Any]:
    """The columns of a complaint's row from WeChat's detail read through ``account``, lengths checked."""
    order = detail.orders[0] if detail.orders else None
    values = {
        "account": account,
        "state": detail.complaint_state,
        "problem_type": detail.problem_type,
        "description": detail.problem_description,
        "detail": detail.complaint_detail,
        "complaint_time": parse_time(detail.complaint_time),
        "complainted_mchid": detail.complainted_mchid,
        "out_trade_no": order.out_trade_no if order else "",
        "transaction_id": order.transaction_id if order else "",
        "amount": order.amount if order else None,
        "apply_refund_amount": detail.apply_refund_amount,
        "payer_phone_encrypted": detail.payer_phone,  # as sent: encrypted
        "image_count": sum(len(media.media_urls) for media in detail.media),
        "raw": detail.raw,
        "synced_at": timezone.now(),
        **flags.stored_fields(detail.raw),
    }
    if digest:
        values["list_digest"] = detail.digest
    check_lengths(Complaint, {"complaint_id": detail.complaint_id, **values})
    for media in detail.media:
        check_lengths(ComplaintImage, {"media_type": media.media_type})
    return values


def store(detail: wc.Complaint, account: str = "default", *, digest: bool = True) -> Complaint:
    """Create or update the row of one complaint from WeChat's detail (no network), read
    through merchant account ``account`` (which answers it).

    With ``digest`` (the default) the detail's digest is stored too, and a sync skips
    the complaint while WeChat lists it unchanged: store its history first.
    """
    values = _values(detail, account, digest=digest)
    try:
        complaint, _ = Complaint.objects.update_or_create(complaint_id=detail.complaint_id, defaults=values)
    except IntegrityError:  # a concurrent notification created it first
        complaint, _ = Complaint.objects.update_or_create(complaint_id=detail.complaint_id, defaults=values)
    _store_images(complaint, detail)
    alerts.offer_events(complaint)  # new complaint, consumer wrote again: each alert once
    return complaint


def _store_images(complaint: Complaint, detail: wc.Complaint) -> None:
    listed = [(url, media.media_type) for media in detail.media for url in media.media_urls]
    if listed:  # one INSERT; images stored before are kept as they are
        ComplaintImage.objects.bulk_create(
            [
                ComplaintImage(
                    complaint=complaint,
                    url_hash=ComplaintImage.hash_url(url),
                    media_url=url,
                    media_type=media_type,
                    position=position,
                )
                for position, (url, media_type) in enumerate(listed[:MAX_CONSUMER_IMAGES])  # bounded: see the constant
            ],
            ignore_conflicts=True,
        )


def store_history(complaint: Complaint, entries: Sequence[wc.HistoryEntry]) -> None:
    """Add the history entries not stored yet (no network)."""
    _check_history(entries)
    if entries:
        _insert_history(complaint, entries)
        moments.note_history(complaint)


def _check_history(entries: Sequence[wc.HistoryEntry]) -> None:
    for entry in entries:
        check_lengths(
            HistoryEntry, {"log_id": entry.log_id, "operator": entry.operator, "operate_type": entry.operate_type}
        )


def _insert_history(complaint: Complaint, entries: Sequence[wc.HistoryEntry]) -> None:
    rows = {  # by log_id: an answer that repeats an entry must not make the INSERT conflict with itself
        entry.log_id: HistoryEntry(
            complaint=complaint,
            log_id=entry.log_id,
            operator=entry.operator,
            operate_time=parse_time(entry.operate_time),
            operate_type=entry.operate_type,
            operate_details=entry.operate_details,
            image_urls=list(entry.image_list),
            raw=entry.raw,
        )
        for entry in entries
    }
    HistoryEntry.objects.bulk_create(list(rows.values()), **_upsert_options())  # one INSERT


def _upsert_options() -> dict[str, Any]:
    """``bulk_create`` options that update an entry stored already, where the database can."""
    features = connections[router.db_for_write(HistoryEntry)].features
    if not features.supports_update_conflicts:
        return {"ignore_conflicts": True}
    options: dict[str, Any] = {"update_conflicts": True, "update_fields": _HISTORY_FIELDS}
    if features.supports_update_conflicts_with_target:  # MariaDB/MySQL take no target
        options["unique_fields"] = ["complaint", "log_id"]
    return options


_HISTORY_FIELDS = ["operator", "operate_time", "operate_type", "operate_details", "image_urls", "raw"]


def store_with_history(
    detail: wc.Complaint,
    stored: Complaint | None,
    entries: Sequence[wc.HistoryEntry],
    account: str = "default",
    arrivals: list[Complaint] | None = None,
) -> Complaint:
    """Store a complaint read through ``account`` and its new history entries; the digest only
    with its history (no network).

    A complaint known already gets its history first, then its row and digest. A
    new one is three INSERTs in one transaction (row with its moments and digest,
    images, history), plus its arrival alert. Callers writing from several threads
    at once serialise these calls: SQLite refuses a second writer's transaction at
    once (``database is locked``) rather than waiting. ``arrivals``: a new complaint is
    appended there for the caller to alert with others (:func:`.alerts.offer_arrivals`)
    instead of being alerted here.
    """
    if stored is not None:
        store_history(stored, entries)
        return store(detail, account)
    values = {**_values(detail, account, digest=True), **moments.from_history(entries)}
    _check_history(entries)
    try:
        with transaction.atomic():  # all or nothing; no savepoint: nothing to keep if the row exists
            complaint = Complaint.objects.create(complaint_id=detail.complaint_id, **values)
            _store_images(complaint, detail)
            if entries:
                _insert_history(complaint, entries)
    except IntegrityError:
        stored = Complaint.objects.filter(complaint_id=detail.complaint_id).first()
        if stored is None:  # a value the database refuses (a CHECK constraint), not a race
            raise
        # A notification stored it meanwhile: the general path.
        store_history(stored, entries)
        return store(detail, account)
    if arrivals is not None:
        arrivals.append(complaint)  # alerted by the caller with the others of its page
    else:
        alerts.offer_events(complaint)  # a new complaint: its arrival, each alert once
    return complaint
