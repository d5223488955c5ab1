"""What the desk remembers of each complaint. Only :mod:`.services` writes these.

WeChat Pay's detail is the truth: a complaint row is a copy refreshed from it
(``raw`` keeps the whole answer). The payer's phone number is stored only as
WeChat sent it, encrypted; it is decrypted on demand for staff allowed to see it.
"""

from __future__ import annotations

import datetime
import hashlib
import posixpath

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .. import conf
from ..models import FeedbackImage
from .deadlines import ComplaintQuerySet


def consumer_image_upload_to(instance: ComplaintImage, filename: str) -> str:
    """Downloaded consumer images go under ``wxpay_complaints/<complaint id>/``."""
    return posixpath.join("wxpay_complaints", instance.complaint.complaint_id, filename)


class Complaint(models.Model):
    """A consumer complaint, copied from WeChat Pay's complaint detail."""

    class State(models.TextChoices):
        # A context: the upload status "Pending" reads 待上传, a complaint's 待处理.
        PENDING = "PENDING", pgettext_lazy("complaint state", "Pending")
        PROCESSING = "PROCESSING", _("Processing")
        PROCESSED = "PROCESSED", _("Processed")

    class ProblemType(models.TextChoices):
        REFUND = "REFUND", _("Refund requested")
        SERVICE_NOT_WORK = "SERVICE_NOT_WORK", _("Service not working")
        OTHERS = "OTHERS", _("Other")

    complaint_id = models.CharField(
        _("complaint ID"), max_length=64, unique=True, help_text=_("WeChat Pay's complaint number (complaint_id).")
    )
    state = models.CharField(
        _("state"),
        max_length=32,
        choices=State.choices,
        db_index=True,
        help_text=_("Pending: not answered yet. Processing: answered. Processed: marked complete."),
    )
    problem_type = models.CharField(
        _("problem type"),
        max_length=32,
        choices=ProblemType.choices,
        blank=True,
        default="",
        help_text=_("What the consumer asks for, as WeChat Pay classifies it."),
    )
    description = models.TextField(
        _("problem"),
        blank=True,
        default="",
        help_text=_("The consumer's problem as they chose it (problem_description)."),
    )
    detail = models.TextField(
        _("complaint text"), blank=True, default="", help_text=_("What the consumer wrote (complaint_detail).")
    )
    complaint_time = models.DateTimeField(
        _("complained at"), null=True, blank=True, help_text=_("When the consumer filed the complaint.")
    )
    account = models.CharField(
        _("account"),
        max_length=64,
        default="default",
        help_text=_("The merchant account (in WXPAY_MEDIA) the complaint came through; it is answered through it."),
    )
    complainted_mchid = models.CharField(
        _("merchant"),
        max_length=32,
        db_index=True,
        help_text=_("The merchant the complaint is about (complainted_mchid); replies are sent for this merchant."),
    )
    out_trade_no = models.CharField(
        _("order number"),
        max_length=64,
        blank=True,
        default="",
        db_index=True,
        help_text=_("The merchant's order number of the complained payment."),
    )
    transaction_id = models.CharField(
        _("transaction ID"),
        max_length=64,
        blank=True,
        default="",
        db_index=True,
        help_text=_("WeChat Pay's transaction number of the complained payment."),
    )
    amount = models.PositiveBigIntegerField(
        _("order amount"), null=True, blank=True, help_text=_("The complained order's amount, in fen (0.01 yuan).")
    )
    apply_refund_amount = models.PositiveBigIntegerField(
        _("refund requested"),
        null=True,
        blank=True,
        help_text=_("The refund the consumer asks for, in fen (0.01 yuan)."),
    )
    payer_phone_encrypted = models.TextField(
        _("payer phone (encrypted)"),
        blank=True,
        default="",
        help_text=_("The consumer's phone number as WeChat Pay sent it, encrypted; never stored decrypted."),
    )
    image_count = models.PositiveIntegerField(
        _("consumer images"),
        default=0,
        help_text=_("How many images WeChat Pay listed; only the first few are kept (see the README)."),
    )
    raw = models.JSONField(
        _("raw detail"), default=dict, blank=True, help_text=_("WeChat Pay's complete answer, unknown fields included.")
    )
    synced_at = models.DateTimeField(
        _("synced at"), null=True, blank=True, help_text=_("When the copy was last refreshed from WeChat Pay.")
    )
    created_at = models.DateTimeField(
        _("first seen"), auto_now_add=True, help_text=_("When this site first learnt of the complaint.")
    )
    # The clocks (see .deadlines): when the duties were met, from the desk's actions and WeChat's history.
    answered_at = models.DateTimeField(
        _("answered at"), null=True, blank=True, help_text=_("When the merchant first replied to the consumer.")
    )
    completed_at = models.DateTimeField(
        _("completed at"), null=True, blank=True, help_text=_("When the merchant marked the complaint complete.")
    )
    last_replied_at = models.DateTimeField(
        _("last reply at"), null=True, blank=True, help_text=_("When the merchant last replied to the consumer.")
    )
    consumer_wrote_at = models.DateTimeField(
        _("consumer last wrote at"),
        null=True,
        blank=True,
        help_text=_(
            "When the consumer last wrote: a USER_RESPONSE step of the history or a USER_RESPONSE notification."
        ),
    )
    # Priority flags copied from the detail when it is stored (see .flags), so that lists filter in SQL.
    need_immediate_service = models.BooleanField(
        _("immediate service needed"),
        default=False,
        db_index=True,
        help_text=_("WeChat Pay asks for an immediate answer (need_immediate_service)."),
    )
    incoming_user_response = models.BooleanField(
        _("consumer waiting"),
        default=False,
        help_text=_("The consumer has written again and waits for the merchant (incoming_user_response)."),
    )
    in_platform_service = models.BooleanField(
        _("with WeChat Pay's service"),
        default=False,
        help_text=_("WeChat Pay's own service handles it; the consumer does not see merchant messages meanwhile."),
    )
    trusted_consumer = models.BooleanField(
        _("trusted consumer"),
        default=False,
        help_text=_("The consumer qualifies for fast refund (user_tag_list TRUSTED)."),
    )
    user_complaint_times = models.PositiveIntegerField(
        _("complaints by this consumer"),
        null=True,
        blank=True,
        help_text=_("How many complaints this consumer has made (user_complaint_times)."),
    )
    full_refunded = models.BooleanField(
        _("fully refunded"),
        default=False,
        help_text=_("Every order of the complaint is fully refunded (complaint_full_refunded)."),
    )
    list_digest = models.CharField(
        _("list entry digest"),
        max_length=64,
        blank=True,
        default="",
        editable=False,
        help_text=_("A digest of the complaint as WeChat Pay last listed it; a sync skips it while unchanged."),
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="wxpay_assigned_complaints",
        verbose_name=_("assigned to"),
        help_text=_("The staff member handling the complaint; alerted first."),
    )

    objects = ComplaintQuerySet.as_manager()

    class Meta:
        verbose_name = _("complaint")
        verbose_name_plural = _("complaints")
        ordering = ["-complaint_time", "-pk"]
        # The clocks filter and count by state and complaint_time (see .deadlines).
        indexes = [
            models.Index(fields=["state", "complaint_time"], name="wxpay_complaints_clock"),
            # The changelist's default order: its first page without sorting the whole table.
            models.Index(fields=["-complaint_time", "-id"], name="wxpay_complaints_newest"),
        ]
        permissions = [
            ("reply_complaint", _("Can reply to complaints")),
            ("complete_complaint", _("Can mark complaints complete")),
            ("decide_refund_complaint", _("Can approve or reject refunds of complaints")),
            ("view_payer_phone", _("Can see the payer's phone number")),
        ]

    def __str__(self) -> str:
        return self.complaint_id


class ComplaintImage(models.Model):
    """A consumer's image of a complaint; downloaded from WeChat Pay on demand."""

    complaint = models.ForeignKey(
        Complaint,
        on_delete=models.CASCADE,
        related_name="images",
        verbose_name=_("complaint"),
        help_text=_("The complaint the image belongs to."),
    )
    media_url = models.TextField(
        _("media URL"), help_text=_("WeChat Pay's download URL of the image (signed request, unsigned answer).")
    )
    url_hash = models.CharField(
        _("URL digest"), max_length=64, editable=False, help_text=_("SHA-256 of the URL, to keep each image once.")
    )
    media_type = models.CharField(
        _("media type"),
        max_length=64,
        blank=True,
        default="",
        help_text=_("WeChat Pay's media_type, e.g. USER_COMPLAINT_IMAGE."),
    )
    position = models.PositiveIntegerField(
        _("position"), default=0, help_text=_("Order of the image in the complaint.")
    )
    file = models.FileField(
        _("file"),
        upload_to=consumer_image_upload_to,
        storage=conf.get_storage,
        max_length=255,
        blank=True,
        help_text=_("The downloaded copy, in the configured storage; empty until first viewed."),
    )
    content_type = models.CharField(
        _("content type"),
        max_length=100,
        blank=True,
        default="",
        help_text=_("The image type WeChat Pay answered with."),
    )
    downloaded_at = models.DateTimeField(
        _("downloaded at"), null=True, blank=True, help_text=_("When the copy was downloaded.")
    )
    error_code = models.CharField(
        _("error code"),
        max_length=64,
        blank=True,
        default="",
        help_text=_("Why the latest download failed, if it did."),
    )

    class Meta:
        verbose_name = _("consumer image")
        verbose_name_plural = _("consumer images")
        ordering = ["complaint", "position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["complaint", "url_hash"], name="wxpay_complaints_unique_image_url")
        ]

    def __str__(self) -> str:
        return f"#{self.position + 1}"

    @staticmethod
    def hash_url(url: str) -> str:
        return hashlib.sha256(url.encode("utf-8")).hexdigest()


class HistoryEntry(models.Model):
    """One step of a complaint's negotiation history (协商历史)."""

    complaint = models.ForeignKey(
        Complaint,
        on_delete=models.CASCADE,
        related_name="history",
        verbose_name=_("complaint"),
        help_text=_("The complaint this step belongs to."),
    )
    log_id = models.CharField(_("log ID"), max_length=64, help_text=_("WeChat Pay's id of the step."))
    operator = models.CharField(
        _("operator"),
        max_length=128,
        blank=True,
        default="",
        help_text=_("Who acted: the consumer, the merchant or the platform."),
    )
    operate_time = models.DateTimeField(_("time"), null=True, blank=True, help_text=_("When it happened."))
    operate_type = models.CharField(
        _("action"),
        max_length=64,
        blank=True,
        default="",
        help_text=_("WeChat Pay's operate_type, e.g. USER_CREATE_COMPLAINT."),
    )
    operate_details = models.TextField(_("details"), blank=True, default="", help_text=_("What was said or done."))
    image_urls = models.JSONField(
        _("image URLs"), default=list, blank=True, help_text=_("Image links of the step (valid about an hour).")
    )
    raw = models.JSONField(
        _("raw entry"), default=dict, blank=True, help_text=_("WeChat Pay's complete entry, unknown fields included.")
    )

    class Meta:
        verbose_name = _("history entry")
        verbose_name_plural = _("history entries")
        ordering = ["complaint", "operate_time", "pk"]
        constraints = [models.UniqueConstraint(fields=["complaint", "log_id"], name="wxpay_complaints_unique_log_id")]

    def __str__(self) -> str:
        return f"{self.operate_type} {self.operate_time or ''}".strip()


class Reply(models.Model):
    """A staff member's answer to a complaint, with up to four feedback images."""

    class State(models.TextChoices):
        PENDING = "pending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", pgettext_lazy("reply state", "Failed")  # not the upload's 上传失败

    complaint = models.ForeignKey(
        Complaint,
        on_delete=models.CASCADE,
        related_name="replies",
        verbose_name=_("complaint"),
        help_text=_("The complaint answered."),
    )
    content = models.TextField(
        _("text"), help_text=_("The reply's text (response_content), as WeChat Pay counts it: characters.")
    )
    images = models.ManyToManyField(
        FeedbackImage,
        blank=True,
        related_name="wxpay_complaint_replies",
        verbose_name=_("images"),
        help_text=_("Feedback images sent with the reply (at most 4)."),
    )
    state = models.CharField(
        _("state"),
        max_length=16,
        choices=State.choices,
        default=State.PENDING,
        help_text=_(
            "Sending: not answered yet. Sent: WeChat Pay accepted it. Failed: see the error; nothing reached the consumer."
        ),
    )
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="wxpay_complaint_replies",
        verbose_name=_("sent by"),
        help_text=_("The staff member who wrote the reply."),
    )
    created_at = models.DateTimeField(_("written at"), auto_now_add=True, help_text=_("When the reply was written."))
    sent_at = models.DateTimeField(
        _("sent at"), null=True, blank=True, help_text=_("When WeChat Pay accepted the reply.")
    )
    error_code = models.CharField(
        _("error code"),
        max_length=64,
        blank=True,
        default="",
        help_text=_("WeChat Pay's (or this site's) code for the failure."),
    )
    error_message = models.TextField(
        _("error message"), blank=True, default="", help_text=_("What went wrong, for staff.")
    )
    request_id = models.CharField(
        _("Request-ID"),
        max_length=128,
        blank=True,
        default="",
        help_text=_("WeChat Pay's Request-ID of the answer; its support asks for it."),
    )

    class Meta:
        verbose_name = _("reply")
        verbose_name_plural = _("replies")
        ordering = ["complaint", "created_at", "pk"]

    def __str__(self) -> str:
        return title(self.content)


def title(text: str, limit: int = 30) -> str:
    """``text`` on one line and at most ``limit`` characters, cut between words with "…".

    Text with spaces is cut at the last space that keeps a good part of it; text
    without (Chinese) is cut between characters.
    """
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:，。；：、") + "…"


def parse_time(value: str) -> datetime.datetime | None:
    """WeChat's RFC 3339 time (``2026-11-20T10:00:00+08:00``), or ``None``."""
    try:
        when = datetime.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo else None


# The desk's own records, defined beside (they refer to Complaint by name).
from .desk_models import Alert, DeskAction, SavedReply  # noqa: E402
from .inbound_models import FormToken, Notification  # noqa: E402

__all__ = [
    "Alert",
    "Complaint",
    "ComplaintImage",
    "DeskAction",
    "FormToken",
    "HistoryEntry",
    "Notification",
    "Reply",
    "SavedReply",
    "parse_time",
]
