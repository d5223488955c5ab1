"""When the merchant met its duties: first reply, last reply, completion.

Recorded from what the desk did (a reply WeChat accepted, a completion) and from
WeChat's negotiation history (replies made elsewhere, e.g. on the merchant
platform). Each write is one conditional ``UPDATE``, so two processes noting the
same moment in any order end with the earliest first reply and the latest reply.
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


def note_reply(complaint: Complaint, when: datetime.datetime) -> None:
    """A merchant reply at ``when``: the first one answers the complaint; keep the last one too."""
    rows = Complaint.objects.filter(pk=complaint.pk)
    rows.filter(Q(answered_at__isnull=True) | Q(answered_at__gt=when)).update(answered_at=when)
    rows.filter(Q(last_replied_at__isnull=True) | Q(last_replied_at__lt=when)).update(last_replied_at=when)


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
    )
    if moments["first_reply"] is not None:
        note_reply(complaint, moments["first_reply"])
        note_reply(complaint, moments["last_reply"])
    if moments["completed"] is not None:
        note_completion(complaint, moments["completed"])


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
