"""A reply to a WeChat Pay consumer complaint, with the images it carries."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from django_wxpay_media.models import FeedbackImage


class ComplaintReply(models.Model):
    """What a merchant answers to a complaint; WeChat Pay takes the images as media_ids."""

    complaint_id = models.CharField(
        _("complaint ID"),
        max_length=64,
        help_text=_("The complaint number (投诉单号) shown by WeChat Pay."),
    )
    content = models.TextField(_("content"), help_text=_("The reply to the consumer."))
    images = models.ManyToManyField(
        FeedbackImage,
        blank=True,
        verbose_name=_("images"),
        related_name="complaint_replies",
        help_text=_("Evidence images sent with the reply (at most 4)."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("complaint reply")
        verbose_name_plural = _("complaint replies")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return gettext("Reply to complaint %(complaint_id)s") % {"complaint_id": self.complaint_id}

    @property
    def media_ids(self) -> list[str]:
        """The attached images' media_ids, oldest image first: what the reply API takes."""
        if self.pk is None:
            return []
        return [image.media_id for image in self.images.order_by("created_at", "pk") if image.media_id]
