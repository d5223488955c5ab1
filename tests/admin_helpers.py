"""The FeedbackImage admin's URLs, its messages, and the records its screens act on.

Shared by the admin, task and claim test modules so each spells a URL or a
"stored but not sent" record the same way.
"""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from django_wxpay_media import services
from django_wxpay_media.exceptions import UploadFailed
from django_wxpay_media.models import FeedbackImage

from .images import png_bytes

CHANGELIST = "admin:django_wxpay_media_feedbackimage_changelist"
ADD = "admin:django_wxpay_media_feedbackimage_add"


def change_url(image: FeedbackImage) -> str:
    return reverse("admin:django_wxpay_media_feedbackimage_change", args=(image.pk,))


def upload_url(image: FeedbackImage) -> str:
    return reverse("admin:django_wxpay_media_feedbackimage_upload", args=(image.pk,))


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def pending_image(sandbox, seed: int, name: str | None = None) -> FeedbackImage:
    """A stored, never-sent record (what an interrupted process leaves behind)."""
    data = png_bytes(seed)
    image = FeedbackImage(
        filename=name or f"pending-{seed}.png",
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        content_type="image/png",
        mchid=sandbox.mchid,
    )
    image.file.save(image.filename, ContentFile(data), save=False)
    image.save()
    return image


def failed_image(sandbox, seed: int, name: str | None = None) -> FeedbackImage:
    """A stored record whose upload WeChat Pay refused with ``PARAM_ERROR``."""
    sandbox.add_fault("status", status=400, code="PARAM_ERROR", message="参数错误")
    with pytest.raises(UploadFailed) as info:
        services.upload_image(png_bytes(seed), filename=name or f"failed-{seed}.png")
    return info.value.image
