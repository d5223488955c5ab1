"""Which desk actions WeChat Pay allows on a complaint, and why not.

One function per action; each answers with a :class:`Verdict` whose ``reason`` is
a translated sentence for staff. The services check these first, before any
upload or call, and the screens use them to hide what would be refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext

from .messages import message_for
from .models import Complaint, DeskAction, HistoryEntry

#: History steps that are a refund decision already made (WeChat's spellings, and the sandbox's).
REFUND_DECISION_TYPES = ("MERCHANT_APPROVE_REFUND", "MERCHANT_REFUSE_RERUND", "MERCHANT_REJECT_REFUND")


@dataclass(frozen=True)
class Verdict:
    """``allowed``, or the ``reason`` (translated) why not; true when allowed."""

    allowed: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed


ALLOWED = Verdict(True)


def can_reply(complaint: Complaint) -> Verdict:
    """A reply: not to a processed complaint."""
    if complaint.state == Complaint.State.PROCESSED:
        return Verdict(False, gettext("This complaint is processed; WeChat Pay takes no more replies to it."))
    return ALLOWED


def refund_decided(complaint: Complaint) -> bool:
    """Whether a refund decision was made already, by this desk or elsewhere (history)."""
    if complaint.desk_actions.filter(kind__in=[DeskAction.Kind.APPROVE_REFUND, DeskAction.Kind.REJECT_REFUND]).exists():
        return True
    return HistoryEntry.objects.filter(complaint=complaint, operate_type__in=REFUND_DECISION_TYPES).exists()


def can_decide_refund(complaint: Complaint) -> Verdict:
    """A refund decision: only on a refund request, not processed, and only once."""
    if complaint.problem_type != Complaint.ProblemType.REFUND:
        return Verdict(False, gettext("The consumer did not ask for a refund, so there is nothing to decide."))
    if complaint.state == Complaint.State.PROCESSED:
        return Verdict(False, gettext("This complaint is processed; its refund can no longer be decided."))
    if refund_decided(complaint):
        return Verdict(False, gettext("The refund has been decided already; WeChat Pay takes one decision."))
    return ALLOWED


def can_complete(complaint: Complaint) -> Verdict:
    """Completion: only after a reply, and only once."""
    if complaint.state == Complaint.State.PROCESSED:
        return Verdict(False, gettext("This complaint is marked complete already."))
    if complaint.state != Complaint.State.PROCESSING:
        return Verdict(False, gettext("Reply to the consumer first; a complaint is completed after a reply."))
    return ALLOWED


def can_respond_immediately(complaint: Complaint) -> Verdict:
    """An instant-service reply: only when WeChat Pay flagged ``need_immediate_service``, not processed."""
    if not complaint.need_immediate_service:
        return Verdict(False, message_for("NO_IMMEDIATE_SERVICE"))
    if complaint.state == Complaint.State.PROCESSED:
        return Verdict(False, message_for("INSTANT_PROCESSED"))
    return ALLOWED
