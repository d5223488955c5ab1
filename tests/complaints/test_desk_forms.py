"""The desk's forms hand the images they checked to the services: each file is read and validated once."""

from __future__ import annotations

import pytest
from django.utils.datastructures import MultiValueDict

from django_wxpay_media.complaints import services
from django_wxpay_media.complaints.forms import RefundDecisionForm, ReplyForm
from django_wxpay_media.models import FeedbackImage
from tests.complaints.helpers import stored
from tests.images import png_bytes
from tests.test_forms import CountingUpload

pytestmark = pytest.mark.django_db


def test_a_reply_reads_each_image_once(desk):
    complaint = stored(desk)
    data = png_bytes(91)
    file = CountingUpload("once.png", data, content_type="image/png")
    form = ReplyForm(data={"content": "您好，已处理。"}, files=MultiValueDict({"images": [file]}))

    assert form.is_valid(), form.errors
    outcome = services.send_reply(complaint, form.cleaned_data["content"], form.cleaned_data["images"])

    assert outcome.ok, outcome.message
    assert file.read_bytes == len(data)  # the field's check; the upload used what it prepared
    [sent] = desk.uploads
    assert sent.data == data
    assert [image.media_id for image in outcome.reply.images.all()] == [sent.media_id]
    assert FeedbackImage.objects.get().status == FeedbackImage.Status.UPLOADED


def test_a_rejection_reads_each_image_once(desk):
    complaint = stored(desk)
    data = png_bytes(92)
    file = CountingUpload("proof.png", data, content_type="image/png")
    form = RefundDecisionForm(
        data={"action": "REJECT", "reject_reason": "已签收"}, files=MultiValueDict({"images": [file]})
    )

    assert form.is_valid(), form.errors
    data_ = form.cleaned_data
    outcome = services.decide_refund(complaint, "REJECT", reason=data_["reject_reason"], images=data_["images"])

    assert file.read_bytes == len(data)
    assert [upload.data for upload in desk.uploads] == [data]
    assert outcome.code != "IMAGE_UPLOAD_FAILED", outcome.message
