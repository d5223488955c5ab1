"""What arrives from outside and is taken once: WeChat Pay's notifications, the desk forms' one-time tokens."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Notification(models.Model):
    """A complaint notification received from WeChat Pay; its id is kept once.

    It is *handled* only once its complaint was stored; until then (*received*:
    being worked on, or the work was cut short; *failed*: see the error) a
    redelivery of the same id tries again.
    """

    class State(models.TextChoices):
        RECEIVED = "received", _("Received")
        HANDLED = "handled", _("Handled")
        FAILED = "failed", pgettext_lazy("notification state", "Failed")

    notification_id = models.CharField(
        _("notification ID"),
        max_length=64,
        unique=True,
        help_text=_("WeChat Pay's id of the notification; a repeated one is ignored once handled."),
    )
    complaint_id = models.CharField(
        _("complaint ID"), max_length=64, db_index=True, help_text=_("The complaint the notification is about.")
    )
    event_type = models.CharField(
        _("event"), max_length=64, blank=True, default="", help_text=_("COMPLAINT.CREATE or COMPLAINT.STATE_CHANGE.")
    )
    action_type = models.CharField(
        _("action"), max_length=64, blank=True, default="", help_text=_("What happened, e.g. USER_RESPONSE.")
    )
    received_at = models.DateTimeField(_("received at"), auto_now_add=True, help_text=_("When this site received it."))
    state = models.CharField(
        _("state"),
        max_length=16,
        choices=State.choices,
        default=State.RECEIVED,
        db_index=True,
        help_text=_(
            "Received: being handled, or handling was cut short. Handled: its complaint is stored. "
            "Failed: see the error; WeChat Pay's next delivery tries again."
        ),
    )
    refresh_error = models.CharField(
        _("refresh error"),
        max_length=64,
        blank=True,
        default="",
        help_text=_("Why the complaint could not be refreshed afterwards, if it could not."),
    )
    error_message = models.TextField(
        _("error message"), blank=True, default="", help_text=_("What went wrong, for staff.")
    )
    claim = models.UUIDField(
        _("claim"), null=True, blank=True, editable=False, help_text=_("The delivery handling it now, if any.")
    )
    claimed_until = models.DateTimeField(
        _("claimed until"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("A delivery is handling it until then; a copy arriving meanwhile is asked to come back later."),
    )

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-received_at", "-pk"]

    def __str__(self) -> str:
        return self.notification_id


class FormToken(models.Model):
    """The one-time token of one rendered action form: a form sends once, whatever the browser does."""

    class Action(models.TextChoices):
        REPLY = "reply", _("Reply")
        COMPLETE = "complete", _("Mark complete")
        REFUND = "refund", _("Refund decision")
        INSTANT = "instant", _("Instant-service reply")

    token = models.CharField(_("token"), max_length=64, unique=True)
    complaint = models.ForeignKey(
        "Complaint", on_delete=models.CASCADE, related_name="form_tokens", verbose_name=_("complaint")
    )
    action = models.CharField(_("action"), max_length=16, choices=Action.choices)
    created_at = models.DateTimeField(_("issued at"), default=timezone.now, db_index=True)
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("form token")
        verbose_name_plural = _("form tokens")

    def __str__(self) -> str:
        return f"{self.action} {self.complaint_id}"
