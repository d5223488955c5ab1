"""The negotiation history in words, and the desk's own actions on the same timeline.

Every ``operate_type`` WeChat Pay documents has a translated label; the code stays
visible beside it (support asks for it), and an unknown code is shown as it is.
Two documented codes are misspelt by WeChat itself (``USER_COMFIRM_COMPLAINT``,
``MERCHANT_REFUSE_RERUND``): they are matched as WeChat sends them.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .messages import message_for
from .models import Complaint, DeskAction, Reply

#: operate_type → label (consumer complaints 2.0, negotiation history; WxJava and the official page).
OPERATE_TYPES: dict[str, Promise] = {
    "USER_CREATE_COMPLAINT": _("The consumer filed the complaint"),
    "USER_CONTINUE_COMPLAINT": _("The consumer complained again"),
    "USER_RESPONSE": _("The consumer wrote"),
    "PLATFORM_RESPONSE": _("WeChat Pay wrote"),
    "MERCHANT_RESPONSE": _("The merchant replied"),
    "MERCHANT_CONFIRM_COMPLETE": _("The merchant marked it complete"),
    # The sandbox's code for an instant-service reply; WeChat's own is not documented [M].
    "MERCHANT_IMMEDIATE_SERVICE_RESPONSE": _("The merchant answered at once (instant service)"),
    "COMPLAINT_FULL_REFUNDED": _("The complaint was fully refunded"),
    "COMPLAINT_PARTIAL_REFUNDED": _("The complaint was partly refunded"),
    "COMPLAINT_REFUND_RECEIVED": _("The consumer received the refund"),
    "USER_CREATE_COMPLAINT_SYSTEM_MESSAGE": _("System message: complaint filed"),
    "USER_CONTINUE_COMPLAINT_SYSTEM_MESSAGE": _("System message: complained again"),
    "COMPLAINT_FULL_REFUNDED_SYSTEM_MESSAGE": _("System message: fully refunded"),
    "COMPLAINT_PARTIAL_REFUNDED_SYSTEM_MESSAGE": _("System message: partly refunded"),
    "COMPLAINT_REFUND_RECEIVED_SYSTEM_MESSAGE": _("System message: refund received"),
    "MERCHANT_CONFIRM_COMPLETE_SYSTEM_MESSAGE": _("System message: marked complete"),
    "USER_REVOKE_COMPLAINT": _("The consumer withdrew the complaint"),
    "USER_COMFIRM_COMPLAINT": _("The consumer confirmed the problem solved"),
    "PLATFORM_HELP_APPLICATION": _("WeChat Pay asked the merchant"),
    "USER_APPLY_PLATFORM_HELP": _("The consumer asked WeChat Pay for help"),
    "USER_APPLY_PLATFORM_SERVICE": _("The consumer asked WeChat Pay for help"),
    "USER_CANCEL_PLATFORM_SERVICE": _("The consumer cancelled WeChat Pay's help"),
    "PLATFORM_SERVICE_FINISHED": _("WeChat Pay finished its help"),
    "MERCHANT_APPROVE_REFUND": _("The merchant approved the refund"),
    "MERCHANT_REFUSE_RERUND": _("The merchant rejected the refund"),
    "MERCHANT_REJECT_REFUND": _("The merchant rejected the refund"),
    "USER_SUBMIT_SATISFACTION": _("The consumer rated the handling"),
    "SERVICE_ORDER_CANCEL": _("The service order was cancelled"),
    "SERVICE_ORDER_COMPLETE": _("The service order was completed"),
}


def operate_type_label(code: str) -> str:
    """``label (CODE)`` for a documented code, the code alone for an unknown one."""
    label = OPERATE_TYPES.get(code)
    return f"{label} ({code})" if label is not None else code


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a complaint's timeline: WeChat's history step or the desk's own action.

    ``source`` is ``"wechat"`` or ``"desk"``; ``code`` WeChat's operate_type or the
    desk's action; ``text`` what was said; ``details`` further lines (reason,
    remark, refund day, state of a reply); ``image_urls`` the pictures WeChat's step
    links to (shown only through :func:`.links.shown`).
    """

    at: datetime.datetime | None
    source: str
    code: str
    label: str
    who: str = ""
    text: str = ""
    details: list[str] = field(default_factory=list)
    image_urls: list[str] = field(default_factory=list)


def _user(user: object) -> str:
    return str(user) if user is not None else ""


def _reply_entry(reply: Reply) -> TimelineEntry:
    details = [] if reply.state == Reply.State.SENT else [str(reply.get_state_display())]
    if reply.error_message:
        details.append(reply.error_message)
    images = len(reply.images.all())
    if images:
        details.append(gettext("%(count)d images attached.") % {"count": images})
    return TimelineEntry(
        reply.sent_at or reply.created_at,
        "desk",
        "REPLY",
        gettext("Reply from the desk"),
        _user(reply.sent_by),
        reply.content,
        details,
    )


def _action_entry(action: DeskAction) -> TimelineEntry:
    details: list[str] = []
    if action.reason:
        details.append(gettext("Reason: %(reason)s") % {"reason": action.reason})
    if action.remark:
        details.append(gettext("Remark: %(remark)s") % {"remark": action.remark})
    if action.launch_refund_day is not None:
        details.append(
            gettext("Refund today.")
            if action.launch_refund_day == 0
            else gettext("Refund in %(days)d days.") % {"days": action.launch_refund_day}
        )
    images = len(action.images.all())
    if action.kind == DeskAction.Kind.INSTANT_SERVICE and images:
        details.append(gettext("%(count)d images attached.") % {"count": images})
    if action.log_id:
        details.append(message_for("WITH_LOG_ID", log_id=action.log_id))
    return TimelineEntry(
        action.at, "desk", action.kind, str(action.get_kind_display()), _user(action.user), action.message, details
    )


def timeline(complaint: Complaint, replies: Iterable[Reply] | None = None) -> list[TimelineEntry]:
    """WeChat's history and the desk's replies and actions, oldest first (undated last).

    ``replies``: the complaint's replies with their images and sender, when the caller read them already.
    """
    entries = [
        TimelineEntry(
            step.operate_time,
            "wechat",
            step.operate_type,
            operate_type_label(step.operate_type),
            step.operator,
            step.operate_details,
            image_urls=[str(url) for url in step.image_urls or []],
        )
        for step in complaint.history.all()
    ]
    if replies is None:
        replies = complaint.replies.prefetch_related("images").select_related("sent_by")
    entries += [_reply_entry(reply) for reply in replies]
    actions = complaint.desk_actions.select_related("user").prefetch_related("images")
    entries += [_action_entry(action) for action in actions]
    far = datetime.datetime.max.replace(tzinfo=datetime.UTC)
    return sorted(entries, key=lambda entry: entry.at or far)
