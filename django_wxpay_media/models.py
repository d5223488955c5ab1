"""The record of every feedback image: its bytes' digest, where it is stored, and
what WeChat Pay answered. Only :mod:`django_wxpay_media.services` changes its state.
"""

from __future__ import annotations

import datetime
import posixpath
import secrets
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from . import conf


def feedback_image_upload_to(instance: FeedbackImage, filename: str) -> str:
    """Where a new file goes: ``WXPAY_MEDIA['UPLOAD_TO']`` (``strftime``-expanded) + a random name.

    The stored name is independent of the name sent: 22 random URL-safe
    characters (128 bits) and the extension of ``filename`` (``.jpg``, ``.png``
    or ``.bmp``, as normalised). Evidence images cannot be found by guessing
    their URL, and whatever the original name (a long Chinese one, say) the
    stored name stays far below the file system's 255-byte limit; the record's
    ``filename`` keeps the name shown to staff and sent to WeChat Pay.

    A callable rather than a string so that the setting is read when a file is
    saved, not frozen into the migration.
    """
    # Same expansion FileField applies to a string upload_to (local, naive time).
    directory = datetime.datetime.now().strftime(conf.upload_to())  # noqa: DTZ005 - naive on purpose: mirrors FileField
    extension = posixpath.splitext(posixpath.basename(filename))[1].lower()
    if not (1 < len(extension) <= 5 and extension[1:].isascii() and extension[1:].isalnum()):
        extension = ""  # only a short, plain extension survives; the content decides the type anyway
    return posixpath.join(directory, secrets.token_urlsafe(16) + extension)


def stale_before(now: datetime.datetime | None = None) -> datetime.datetime:
    """An upload started before this moment was abandoned: its attempt cannot still be running."""
    return (now or timezone.now()) - conf.upload_timeout()


def _abandoned(now: datetime.datetime | None) -> models.Q:
    # A claim without a start time is abandoned too: nothing says it is recent.
    return models.Q(status=FeedbackImage.Status.UPLOADING) & (
        models.Q(upload_started_at__lt=stale_before(now)) | models.Q(upload_started_at__isnull=True)
    )


class FeedbackImageQuerySet(models.QuerySet["FeedbackImage"]):
    def pending(self) -> FeedbackImageQuerySet:
        """Stored, never sent (or released after an interrupted attempt)."""
        return self.filter(status=FeedbackImage.Status.PENDING)

    def uploading(self) -> FeedbackImageQuerySet:
        """An upload attempt is running now (or was abandoned by a process that died)."""
        return self.filter(status=FeedbackImage.Status.UPLOADING)

    def stale(self, now: datetime.datetime | None = None) -> FeedbackImageQuerySet:
        """Uploads abandoned: marked uploading for longer than any attempt can take.

        See :func:`~django_wxpay_media.conf.upload_timeout`; a retry takes them over.
        """
        return self.filter(_abandoned(now))

    def takeable(self, now: datetime.datetime | None = None, *, include_failed: bool = True) -> FeedbackImageQuerySet:
        """Records an upload may claim now: pending, failed (unless ``include_failed`` is
        false) and abandoned (:meth:`stale`). The one home of the take-over rule: the
        claim, the batches and :attr:`FeedbackImage.is_retryable` all follow it.
        """
        statuses = [FeedbackImage.Status.PENDING, FeedbackImage.Status.FAILED]
        if not include_failed:
            statuses.remove(FeedbackImage.Status.FAILED)
        return self.filter(models.Q(status__in=statuses) | _abandoned(now))

    def uploaded(self) -> FeedbackImageQuerySet:
        """WeChat Pay accepted them; ``media_id`` is set."""
        return self.filter(status=FeedbackImage.Status.UPLOADED)

    def failed(self) -> FeedbackImageQuerySet:
        """The latest attempt failed; ``error_code`` says why. A retry may finish them."""
        return self.filter(status=FeedbackImage.Status.FAILED)


class FeedbackImage(models.Model):
    """An image uploaded (or to be uploaded) to WeChat Pay as complaint feedback.

    One record per merchant and file content: the same bytes are never uploaded
    twice, their ``media_id`` is reused.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        UPLOADING = "uploading", _("Uploading")
        UPLOADED = "uploaded", _("Uploaded")
        FAILED = "failed", _("Failed")

    file = models.FileField(
        _("file"),
        upload_to=feedback_image_upload_to,
        storage=conf.get_storage,
        max_length=255,
        help_text=_("The stored copy of the image, kept so that a failed upload can be retried."),
    )
    filename = models.CharField(
        _("file name"),
        max_length=128,
        help_text=_("The file name sent to WeChat Pay (normalised: ends in .jpg, .png or .bmp)."),
    )
    sha256 = models.CharField(
        _("SHA-256"),
        max_length=64,
        help_text=_("Lower-case hex SHA-256 digest of the file's bytes; the same bytes are uploaded only once."),
    )
    size = models.PositiveIntegerField(_("size"), help_text=_("Size of the file in bytes."))
    content_type = models.CharField(
        _("content type"),
        max_length=100,
        help_text=_("The image type found from the file's content (image/jpeg, image/png or image/bmp)."),
    )
    account = models.CharField(
        _("account"),
        max_length=64,
        default="default",
        help_text=_("The name of the merchant account (in WXPAY_MEDIA) the image is uploaded through."),
    )
    # Filtering by merchant (per-merchant screens) uses the (mchid, sha256) unique index.
    mchid = models.CharField(
        _("merchant number"),
        max_length=32,
        help_text=_("The WeChat Pay merchant number (mchid) the image is uploaded for."),
    )
    media_id = models.CharField(
        _("media ID"),
        max_length=512,
        blank=True,
        default="",
        help_text=_("The media_id WeChat Pay returned; complaint replies refer to the image by it."),
    )
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=Status.choices,
        default=Status.PENDING,
        db_index=True,
        help_text=_(
            "Pending: stored, not yet sent. Uploading: being sent now. Uploaded: accepted. Failed: see the error."
        ),
    )
    error_code = models.CharField(
        _("error code"),
        max_length=64,
        blank=True,
        default="",
        help_text=_("Code of the latest failure: WeChat Pay's code (e.g. PARAM_ERROR) or this app's (e.g. TIMEOUT)."),
    )
    error_message = models.TextField(
        _("error message"),
        blank=True,
        default="",
        help_text=_("Developer-facing description of the latest failure, as logged."),
    )
    request_id = models.CharField(
        _("Request-ID"),
        max_length=128,
        blank=True,
        default="",
        help_text=_("WeChat Pay's Request-ID of the latest answer; WeChat Pay support asks for it."),
    )
    attempts = models.PositiveIntegerField(
        _("attempts"),
        default=0,
        help_text=_("How many times an upload of this image was started."),
    )
    created_at = models.DateTimeField(
        _("created at"), auto_now_add=True, help_text=_("When the image was first received.")
    )
    upload_started_at = models.DateTimeField(
        _("upload started at"),
        null=True,
        blank=True,
        help_text=_(
            "When the latest upload attempt started. An attempt still running long after this "
            "was abandoned and may be taken over by a retry."
        ),
    )
    uploaded_at = models.DateTimeField(
        _("uploaded at"), null=True, blank=True, help_text=_("When WeChat Pay accepted the image.")
    )
    claim_token = models.CharField(
        _("claim token"),
        max_length=32,
        blank=True,
        default="",
        editable=False,
        help_text=_(
            "Random token of the latest upload attempt; only that attempt may record its result, "
            "so an attempt whose claim was taken over never overwrites the record."
        ),
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("uploaded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="wxpay_feedback_images",
        help_text=_("The user who added the image, if it came through the site."),
    )

    objects = FeedbackImageQuerySet.as_manager()

    class Meta:
        verbose_name = _("feedback image")
        verbose_name_plural = _("feedback images")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["mchid", "sha256"], name="wxpay_media_unique_mchid_sha256"),
        ]
        permissions = [("upload_feedbackimage", _("Can upload feedback images to WeChat Pay"))]

    def __str__(self) -> str:
        return gettext("%(filename)s (%(status)s)") % {
            "filename": self.filename or gettext("unnamed image"),
            "status": self.get_status_display(),
        }

    def __repr__(self) -> str:
        return f"<FeedbackImage pk={self.pk} {self.filename!r} status={self.status!r} media_id={self.media_id!r}>"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # sha256 is compared as text; keep it in the case WeChat Pay documents.
        self.sha256 = (self.sha256 or "").lower()
        super().save(*args, **kwargs)

    @property
    def is_stale(self) -> bool:
        """True when an upload marked as running was abandoned (see :meth:`FeedbackImageQuerySet.stale`).

        Such a record may be retried: its attempt cannot still be running.
        """
        if self.status != self.Status.UPLOADING:
            return False
        started = self.upload_started_at
        return started is None or started < stale_before()

    @property
    def is_busy(self) -> bool:
        """True while another caller's upload of this record may still be running (a fresh claim)."""
        return self.status == self.Status.UPLOADING and not self.is_stale

    @property
    def is_retryable(self) -> bool:
        """True when a retry may upload this record now (see :meth:`FeedbackImageQuerySet.takeable`)."""
        return self.status in (self.Status.PENDING, self.Status.FAILED) or self.is_stale

    @property
    def is_uploaded(self) -> bool:
        """True once WeChat Pay has accepted the image (``media_id`` is set)."""
        return self.status == self.Status.UPLOADED and bool(self.media_id)


# Who may see which merchant's records, defined beside (see .scoping for the rule).
from .grants import MerchantGrant  # noqa: E402, F401
