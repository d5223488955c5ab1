"""Storing WeChat Pay's copies of a complaint and its history (no network)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import IntegrityError, models
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


def store(detail: wc.Complaint) -> Complaint:
    """Create or update the row of one complaint from WeChat's detail (no network)."""
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
    check_lengths(Complaint, {"complaint_id": detail.complaint_id, **values})
    for media in detail.media:
        check_lengths(ComplaintImage, {"media_type": media.media_type})
    try:
        complaint, _ = Complaint.objects.update_or_create(complaint_id=detail.complaint_id, defaults=values)
    except IntegrityError:  # a concurrent notification created it first
        complaint, _ = Complaint.objects.update_or_create(complaint_id=detail.complaint_id, defaults=values)
    listed = [(url, media.media_type) for media in detail.media for url in media.media_urls]
    for position, (url, media_type) in enumerate(listed[:MAX_CONSUMER_IMAGES]):  # bounded: see the constant
        ComplaintImage.objects.get_or_create(
            complaint=complaint,
            url_hash=ComplaintImage.hash_url(url),
            defaults={"media_url": url, "media_type": media_type, "position": position},
        )
    alerts.offer_events(complaint)  # new complaint, consumer wrote again: each alert once
    return complaint


def store_history(complaint: Complaint, entries: Sequence[wc.HistoryEntry]) -> None:
    """Add the history entries not stored yet (no network)."""
    for entry in entries:
        check_lengths(
            HistoryEntry, {"log_id": entry.log_id, "operator": entry.operator, "operate_type": entry.operate_type}
        )
    for entry in entries:
        HistoryEntry.objects.update_or_create(
            complaint=complaint,
            log_id=entry.log_id,
            defaults={
                "operator": entry.operator,
                "operate_time": parse_time(entry.operate_time),
                "operate_type": entry.operate_type,
                "operate_details": entry.operate_details,
                "image_urls": list(entry.image_list),
                "raw": entry.raw,
            },
        )
    moments.note_history(complaint)
