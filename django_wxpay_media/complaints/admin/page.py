"""The complaint's page: its clock, flags, timeline in words, assignee, and the actions WeChat allows.

Everything here is read: the page shows which deadline runs and how it stands
(:mod:`..deadlines`), the flags with their sentences (:mod:`..flags`), WeChat's
history and the desk's own replies and actions as one timeline
(:mod:`..history_labels`), and offers only the actions :mod:`..rules` allows.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.utils import unquote
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from .. import deadlines, flags, history_labels, links, rules, services
from ..models import Complaint
from .base import DeskBase
from .countdown import countdown


def _words(entry: history_labels.TimelineEntry) -> str:
    """The entry in words without its code (the page shows the code beside it); empty when unknown."""
    if entry.source == "wechat":
        return str(history_labels.OPERATE_TYPES.get(entry.code, ""))
    return entry.label


class DeskPage(DeskBase):
    """The change page's context (mixed into :class:`ComplaintAdmin <.ComplaintAdmin>`)."""

    def desk_context(self, request: HttpRequest, complaint: Complaint) -> dict[str, Any]:
        """What the complaint's page shows beside WeChat Pay's detail."""
        now = timezone.now()
        clock = deadlines.clock_for(complaint, now)
        images = list(complaint.images.all()[: services.MAX_CONSUMER_IMAGES])
        reply_verdict = rules.can_reply(complaint)
        replies = list(complaint.replies.prefetch_related("images").select_related("sent_by"))  # read once
        return {
            "clock": clock,
            "clock_text": countdown(clock.deadline, now) if clock.deadline else "",
            "flags": flags.flags_for(complaint),
            "consumer_images": [(image, self._url("complaint_image", image.pk)) for image in images],
            "more_images": max(0, complaint.image_count - len(images)),
            "timeline": [
                (entry, _words(entry), [links.shown(url) for url in entry.image_urls])
                for entry in history_labels.timeline(complaint, replies)
            ],
            "replies": [(reply, self._url("complaint_resend", complaint.pk, reply.pk)) for reply in replies],
            # Only what WeChat Pay would take (rules) and this staff member may do (permissions).
            "can_reply": self.has_reply_permission(request) and bool(reply_verdict),
            "can_resend": self.has_reply_permission(request) and bool(reply_verdict),
            "can_complete": self.has_complete_permission(request) and bool(rules.can_complete(complaint)),
            "can_decide_refund": self.has_refund_decision_permission(request)
            and bool(rules.can_decide_refund(complaint)),
            "can_respond_immediately": self.has_reply_permission(request)
            and bool(rules.can_respond_immediately(complaint)),
            "can_assign": self.has_assign_permission(request),
            "assigned_to_me": complaint.assignee_id is not None and complaint.assignee_id == request.user.pk,
            "action_urls": {
                name: self._url(f"complaint_{name}", complaint.pk)
                for name in ("reply", "complete", "refund", "refresh", "assign", "instant")
            },
        }

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        complaint = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if complaint is not None:
            context.update(self.desk_context(request, complaint))
        return super().change_view(request, object_id, form_url, extra_context=context)
