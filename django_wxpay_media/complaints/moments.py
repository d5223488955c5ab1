"""When the merchant met its duties (first reply, last reply, completion), and when the consumer last wrote.

Recorded from what the desk did (a reply WeChat accepted, a completion), from
WeChat's negotiation history (replies made elsewhere, e.g. on the merchant
platform; the consumer's USER_RESPONSE steps) and from USER_RESPONSE notifications.
Each write is one conditional ``UPDATE``, so two processes noting the same moment
in any order end with the earliest first reply and the latest reply and message.
The "consumer wrote again" flag compares two of these columns (:func:`.flags.wrote_again_q`).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from django.db.models import Max, Min, Q
from django.utils import timezone

from .models import Complaint, DeskAction, HistoryEntry, parse_time

#: History steps that are the merchant answering, and the merchant completing.
MERCHANT_REPLY_TYPES = ("MERCHANT_RESPONSE",)
MERCHANT_COMPLETE_TYPES = ("MERCHANT_CONFIRM_COMPLETE",)
#: History steps (and notification actions) that are the consumer writing.
CONSUMER_TYPES = ("USER_RESPONSE",)


def note_reply(complaint: Complaint, when: datetime.datetime) -> None:
    """A merchant reply at ``when``: the first one answers the complaint; keep the last one too."""
    rows = Complaint.objects.filter(pk=complaint.pk)
    rows.filter(Q(answered_at__isnull=True) | Q(answered_at__gt=when)).update(answered_at=when)
    rows.filter(Q(last_replied_at__isnull=True) | Q(last_replied_at__lt=when)).update(last_replied_at=when)


def note_consumer(complaint: Complaint | int, when: datetime.datetime) -> bool:
    """The consumer wrote at ``when`` (a complaint or its pk): the latest such moment is kept.

    True when it is now the latest (the row changed); ``complaint``'s attribute follows then.
    """
    pk = complaint.pk if isinstance(complaint, Complaint) else complaint
    later = Q(consumer_wrote_at__isnull=True) | Q(consumer_wrote_at__lt=when)
    changed = bool(Complaint.objects.filter(later, pk=pk).update(consumer_wrote_at=when))
    if changed and isinstance(complaint, Complaint):
        complaint.consumer_wrote_at = when
    return changed


def note_completion(complaint: Complaint, when: datetime.datetime) -> None:
    """The complaint was marked complete at ``when`` (the earliest such moment is kept)."""
    rows = Complaint.objects.filter(pk=complaint.pk)
    rows.filter(Q(completed_at__isnull=True) | Q(completed_at__gt=when)).update(completed_at=when)


def note_history(complaint: Complaint) -> None:
    """Take the moments from the stored history steps of ``complaint`` (one query to read)."""
    moments = HistoryEntry.objects.filter(complaint=complaint).aggregate(
        first_reply=Min("operate_time", filter=Q(operate_type__in=MERCHANT_REPLY_TYPES)),
        last_reply=Max("operate_time", filter=Q(operate_type__in=MERCHANT_REPLY_TYPES)),
        completed=Min("operate_time", filter=Q(operate_type__in=MERCHANT_COMPLETE_TYPES)),
        consumer=Max("operate_time", filter=Q(operate_type__in=CONSUMER_TYPES)),
    )
    if moments["first_reply"] is not None:
        note_reply(complaint, moments["first_reply"])
        note_reply(complaint, moments["last_reply"])
    if moments["completed"] is not None:
        note_completion(complaint, moments["completed"])
    if moments["consumer"] is not None:
        note_consumer(complaint, moments["consumer"])


def from_history(entries: Iterable[Any]) -> dict[str, datetime.datetime]:
    """The moments of a new complaint from its history entries (``operate_type``, ``operate_time``), no query."""
    replies = sorted(t for e in entries if e.operate_type in MERCHANT_REPLY_TYPES and (t := parse_time(e.operate_time)))
    completions = sorted(
        t for e in entries if e.operate_type in MERCHANT_COMPLETE_TYPES and (t := parse_time(e.operate_time))
    )
    moments = {}
    if replies:
        moments["answered_at"], moments["last_replied_at"] = replies[0], replies[-1]
    if completions:
        moments["completed_at"] = completions[0]
    consumer = [t for e in entries if e.operate_type in CONSUMER_TYPES and (t := parse_time(e.operate_time))]
    if consumer:
        moments["consumer_wrote_at"] = max(consumer)
    return moments


def record_action(
    complaint: Complaint,
    kind: str,
    user: Any,
    request_id: str | None,
    *,
    reason: str = "",
    remark: str = "",
    day: int | None = None,
) -> DeskAction:
    """Keep what WeChat Pay accepted from the desk (a refund decision, a completion), now."""
    return DeskAction.objects.create(
        complaint=complaint,
        kind=kind,
        user=user,
        at=timezone.now(),
        request_id=request_id or "",
        reason=reason,
        remark=remark,
        launch_refund_day=day,
    )
