"""Storing WeChat Pay's copies of a complaint and its history (no network)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import IntegrityError, connections, models, router
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


def store(detail: wc.Complaint, *, digest: bool = True) -> Complaint:
    """Create or update the row of one complaint from WeChat's detail (no network).

    With ``digest`` (the default) the detail's digest is stored too, and a sync skips
    the complaint while WeChat lists it unchanged: store its history first.
    """
    order = detail.orders[0] if detail.orders else None
    values = {
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
    try:
        complaint, _ = Complaint.objects.update_or_create(complaint_id=detail.complaint_id, defaults=values)
    except IntegrityError:  # a concurrent notification created it first
        complaint, _ = Complaint.objects.update_or_create(complaint_id=detail.complaint_id, defaults=values)
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
    alerts.offer_events(complaint)  # new complaint, consumer wrote again: each alert once
    return complaint


def store_history(complaint: Complaint, entries: Sequence[wc.HistoryEntry]) -> None:
    """Add the history entries not stored yet (no network)."""
    for entry in entries:
        check_lengths(
            HistoryEntry, {"log_id": entry.log_id, "operator": entry.operator, "operate_type": entry.operate_type}
        )
    if not entries:
        return
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
    moments.note_history(complaint)


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


def store_with_history(detail: wc.Complaint, stored: Complaint | None, entries: Sequence[wc.HistoryEntry]) -> Complaint:
    """Store a complaint and its new history entries, the digest last (no network, no transaction).

    No transaction: workers of a sync write at once, and SQLite refuses a second
    writer's transaction (``database is locked``) where it waits for a statement.
    The digest, which makes the next sync skip the complaint, is written only once
    its history is: a complaint known already gets its history first; a new one
    gets its digest in one more ``UPDATE``.
    """
    if stored is not None:
        store_history(stored, entries)
        return store(detail)
    complaint = store(detail, digest=False)
    store_history(complaint, entries)
    Complaint.objects.filter(pk=complaint.pk).update(list_digest=detail.digest)
    complaint.list_digest = detail.digest
    return complaint
