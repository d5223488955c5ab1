"""What the desk keeps beside WeChat's copies: its own actions, alerts sent, saved replies.

Imported by :mod:`.models` (so Django registers these models); it refers to the
complaint by name and never imports :mod:`.models` back.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from ..models import FeedbackImage

COMPLAINT = "wxpay_complaints.Complaint"


class DeskAction(models.Model):
    """Something the desk told WeChat Pay besides a reply: a refund decision, a completion,
    an instant-service reply (its words in ``message``, WeChat's ``log_id``).

    Recorded once WeChat Pay accepted it, for the timeline and for the rules (one
    refund decision per complaint).
    """

    class Kind(models.TextChoices):
        APPROVE_REFUND = "APPROVE_REFUND", _("Refund approved")
        REJECT_REFUND = "REJECT_REFUND", _("Refund rejected")
        COMPLETE = "COMPLETE", _("Marked complete")
        INSTANT_SERVICE = "INSTANT_SERVICE", _("Instant-service reply")

    complaint = models.ForeignKey(
        COMPLAINT,
        on_delete=models.CASCADE,
        related_name="desk_actions",
        verbose_name=_("complaint"),
        help_text=_("The complaint acted on."),
    )
    kind = models.CharField(_("action"), max_length=32, choices=Kind.choices, help_text=_("What the desk did."))
    reason = models.TextField(_("reason"), blank=True, default="", help_text=_("Why a refund was rejected."))
    remark = models.TextField(_("remark"), blank=True, default="", help_text=_("The remark sent with the decision."))
    launch_refund_day = models.PositiveIntegerField(
        _("refund in days"),
        null=True,
        blank=True,
        help_text=_("When the refund will be made, in days from the decision (0: the same day)."),
    )
    message = models.TextField(
        _("message"), blank=True, default="", help_text=_("What an instant-service reply said (its text and link).")
    )
    log_id = models.CharField(
        _("log id"),
        max_length=64,
        blank=True,
        default="",
        help_text=_("WeChat Pay's log_id of an instant-service reply."),
    )
    images = models.ManyToManyField(
        FeedbackImage,
        blank=True,
        related_name="wxpay_complaint_actions",
        verbose_name=_("images"),
        help_text=_("Evidence images sent with a rejection, or the images of an instant-service reply."),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("staff member"),
        help_text=_("Who acted."),
    )
    at = models.DateTimeField(_("at"), help_text=_("When WeChat Pay accepted it."))
    request_id = models.CharField(
        _("Request-ID"), max_length=128, blank=True, default="", help_text=_("WeChat Pay's Request-ID of the answer.")
    )

    class Meta:
        verbose_name = _("desk action")
        verbose_name_plural = _("desk actions")
        ordering = ["complaint", "at", "pk"]

    def __str__(self) -> str:
        return str(self.get_kind_display())


class Alert(models.Model):
    """One alert the desk sent (or is sending); the unique constraint makes it once per event.

    ``occasion`` tells events of the same kind apart: the deadline for a deadline
    alert, the last merchant reply for "the consumer wrote again", empty for arrival.
    """

    class Kind(models.TextChoices):
        ARRIVED = "ARRIVED", _("New complaint")
        WROTE_AGAIN = "WROTE_AGAIN", _("The consumer wrote again")
        DUE_SOON = "DUE_SOON", _("Deadline close")
        OVERDUE = "OVERDUE", _("Deadline missed")

    complaint = models.ForeignKey(
        COMPLAINT,
        on_delete=models.CASCADE,
        related_name="alerts",
        verbose_name=_("complaint"),
        help_text=_("The complaint the alert is about."),
    )
    kind = models.CharField(_("event"), max_length=16, choices=Kind.choices, help_text=_("What happened."))
    occasion = models.CharField(
        _("occasion"),
        max_length=64,
        blank=True,
        default="",
        help_text=_("Which one: the deadline, or the reply the consumer wrote after."),
    )
    recipients = models.JSONField(
        _("recipients"), default=list, blank=True, help_text=_("The e-mail addresses it was sent to.")
    )
    created_at = models.DateTimeField(_("claimed at"), auto_now_add=True, help_text=_("When it was claimed."))
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True, help_text=_("When the e-mail left."))
    error = models.TextField(_("error"), blank=True, default="", help_text=_("Why the e-mail could not be sent."))

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["complaint", "kind", "occasion"], name="wxpay_complaints_alert_once")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.occasion}".strip()


class SavedReply(models.Model):
    """A reply template staff start from; ``{order}`` and ``{amount}`` are filled in."""

    title = models.CharField(_("title"), max_length=100, unique=True, help_text=_("How staff find it."))
    text = models.TextField(
        _("text"),
        help_text=_("The reply's text. {order} becomes the order number, {amount} the order amount in yuan."),
    )
    images = models.ManyToManyField(
        FeedbackImage,
        blank=True,
        related_name="wxpay_saved_replies",
        verbose_name=_("images"),
        help_text=_("Images from earlier uploads to attach (at most 4)."),
    )

    class Meta:
        verbose_name = _("saved reply")
        verbose_name_plural = _("saved replies")
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title
