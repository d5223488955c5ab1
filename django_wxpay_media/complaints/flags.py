"""The detail fields that decide a complaint's priority, as flags with plain labels.

:func:`stored_fields` turns WeChat's detail JSON into the model fields that
:func:`.services.store` saves with the complaint, so that every filter here
(:data:`FILTERS`) is a database condition, never a scan of ``raw`` in Python.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import F, Q
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .models import Complaint

REFUND_REQUESTED = "refund_requested"
IMMEDIATE_SERVICE = "immediate_service"
WROTE_AGAIN = "wrote_again"
IN_PLATFORM_SERVICE = "in_platform_service"
TRUSTED = "trusted"
REPEAT_COMPLAINANT = "repeat_complainant"
FULLY_REFUNDED = "fully_refunded"

#: Each flag's short label, in the order a desk shows them.
LABELS: dict[str, Promise] = {
    REFUND_REQUESTED: _("Refund requested"),
    IMMEDIATE_SERVICE: _("Immediate service needed"),
    WROTE_AGAIN: _("Consumer wrote again"),
    IN_PLATFORM_SERVICE: _("WeChat Pay's service is handling it"),
    TRUSTED: _("Trusted consumer"),
    REPEAT_COMPLAINANT: _("Repeat complainant"),
    FULLY_REFUNDED: _("Fully refunded"),
}


@dataclass(frozen=True)
class Flag:
    """One flag raised on a complaint: ``code`` (a key of :data:`LABELS`), ``label`` and a
    sentence saying what it means for staff (may be empty)."""

    code: str
    label: str
    detail: str = ""


def _bool(value: Any) -> bool:
    return value is True


def stored_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The flag fields of :class:`~.models.Complaint` from WeChat's detail JSON.

    Strict about types: only a JSON ``true`` raises a flag, only a whole number counts.
    """
    tags = raw.get("user_tag_list")
    times = raw.get("user_complaint_times")
    return {
        "need_immediate_service": _bool(raw.get("need_immediate_service")),
        "incoming_user_response": _bool(raw.get("incoming_user_response")),
        "in_platform_service": _bool(raw.get("in_platform_service")),
        "trusted_consumer": isinstance(tags, list) and "TRUSTED" in tags,
        "user_complaint_times": times
        if isinstance(times, int) and not isinstance(times, bool) and times >= 0
        else None,
        "full_refunded": _bool(raw.get("complaint_full_refunded")),
    }


def wrote_again_q() -> Q:
    """The consumer wrote again: ``incoming_user_response``, or their last message (a USER_RESPONSE
    notification or history step, :func:`.moments.note_consumer`) after the merchant's last reply
    (any, if none was sent). Columns of the row only: no subquery per complaint."""
    since_reply = Q(last_replied_at__isnull=True) | Q(consumer_wrote_at__gt=F("last_replied_at"))
    return Q(incoming_user_response=True) | (Q(consumer_wrote_at__isnull=False) & since_reply)


#: A database condition per flag, for list filters.
FILTERS: dict[str, Callable[[], Q]] = {
    REFUND_REQUESTED: lambda: Q(problem_type=Complaint.ProblemType.REFUND),
    IMMEDIATE_SERVICE: lambda: Q(need_immediate_service=True),
    WROTE_AGAIN: wrote_again_q,
    IN_PLATFORM_SERVICE: lambda: Q(in_platform_service=True),
    TRUSTED: lambda: Q(trusted_consumer=True),
    REPEAT_COMPLAINANT: lambda: Q(user_complaint_times__gt=1),
    FULLY_REFUNDED: lambda: Q(full_refunded=True),
}


def filter_q(code: str) -> Q:
    """The database condition of the flag ``code`` (a key of :data:`LABELS`)."""
    return FILTERS[code]()


def wrote_again(complaint: Complaint) -> bool:
    """Whether the consumer wrote again and waits (:func:`wrote_again_q` on the row in hand, no query)."""
    if complaint.incoming_user_response:
        return True
    wrote, replied = complaint.consumer_wrote_at, complaint.last_replied_at
    return wrote is not None and (replied is None or wrote > replied)


def yuan(fen: int | None) -> str:
    """An amount in fen as yuan text (``1000`` → ``10.00``)."""
    return "" if fen is None else f"{fen // 100}.{fen % 100:02d}"


def flags_for(complaint: Complaint) -> list[Flag]:
    """The flags raised on ``complaint``, with translated labels and sentences (no query)."""
    raised: list[Flag] = []

    def add(code: str, detail: str = "") -> None:
        raised.append(Flag(code, str(LABELS[code]), detail))

    if complaint.problem_type == Complaint.ProblemType.REFUND:
        amount = complaint.apply_refund_amount
        add(
            REFUND_REQUESTED,
            gettext("The consumer asks for ¥%(amount)s back.") % {"amount": yuan(amount)} if amount is not None else "",
        )
    if complaint.need_immediate_service:
        add(IMMEDIATE_SERVICE, gettext("WeChat Pay asks for an immediate answer."))
    if wrote_again(complaint):
        add(WROTE_AGAIN, gettext("The consumer has written again and waits for your answer."))
    if complaint.in_platform_service:
        add(
            IN_PLATFORM_SERVICE,
            gettext("WeChat Pay's service is handling it; the consumer does not see your messages meanwhile."),
        )
    if complaint.trusted_consumer:
        add(TRUSTED, gettext("The consumer qualifies for fast refund."))
    if complaint.user_complaint_times is not None and complaint.user_complaint_times > 1:
        add(
            REPEAT_COMPLAINANT,
            gettext("This consumer has made %(count)d complaints.") % {"count": complaint.user_complaint_times},
        )
    if complaint.full_refunded:
        add(FULLY_REFUNDED, gettext("Every order of the complaint is fully refunded."))
    return raised


def codes(flags: Iterable[Flag]) -> list[str]:
    """The codes of ``flags``, for tests and templates."""
    return [flag.code for flag in flags]
