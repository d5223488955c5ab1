"""Actions only when WeChat Pay allows them: checked first, before any upload or call."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from django_wxpay_media import conf
from django_wxpay_media.complaints import rules, services
from django_wxpay_media.complaints.models import Complaint, Reply
from django_wxpay_media.models import FeedbackImage
from django_wxpay_media.wechatpay import complaints as wc
from tests.complaints.helpers import stored
from tests.images import png_bytes

pytestmark = pytest.mark.django_db

UPLOAD = "/v3/merchant-service/images/upload"


def calls(desk, suffix):
    return [r for r in desk.requests if r.method == "POST" and r.path.endswith(suffix)]


def test_a_processed_complaint_takes_no_reply_and_nothing_is_uploaded(desk):
    complaint = stored(desk, state="PROCESSED")
    image = SimpleUploadedFile("proof.png", png_bytes(3), "image/png")
    outcome = services.send_reply(complaint, "您好", [image])
    assert not outcome.ok and outcome.code == "NOT_ALLOWED"
    assert outcome.message == "This complaint is processed; WeChat Pay takes no more replies to it."
    assert not calls(desk, UPLOAD) and not calls(desk, "/response")
    assert not Reply.objects.exists() and not FeedbackImage.objects.exists()


def test_a_failed_reply_is_not_resent_once_the_complaint_is_processed(desk):
    complaint = stored(desk)
    reply = Reply.objects.create(complaint=complaint, content="您好", state=Reply.State.FAILED)
    Complaint.objects.filter(pk=complaint.pk).update(state=Complaint.State.PROCESSED)
    reply.refresh_from_db()
    outcome = services.resend_reply(reply)
    assert not outcome.ok and outcome.code == "NOT_ALLOWED" and not calls(desk, "/response")


def test_a_refund_rejection_on_a_processed_complaint_uploads_nothing(desk):
    complaint = stored(desk, problem_type="REFUND", state="PROCESSED")
    image = SimpleUploadedFile("signed.png", png_bytes(5), "image/png")
    outcome = services.decide_refund(complaint, "REJECT", reason="已签收", images=[image])
    assert not outcome.ok and outcome.code == "NOT_ALLOWED"
    assert not calls(desk, UPLOAD) and not calls(desk, "/update-refund-progress")
    assert not FeedbackImage.objects.exists()


def test_one_refund_decision_only(desk):
    complaint = stored(desk, problem_type="REFUND")
    assert services.decide_refund(complaint, "APPROVE", remark="三天内退款", launch_refund_day=3).ok
    assert rules.refund_decided(complaint)
    again = services.decide_refund(complaint, "REJECT", reason="改主意了")
    assert not again.ok and again.code == "NOT_ALLOWED"
    assert again.message == "The refund has been decided already; WeChat Pay takes one decision."
    assert len(calls(desk, "/update-refund-progress")) == 1


def test_a_refund_decided_elsewhere_is_seen_in_the_history(desk):
    complaint = stored(desk, problem_type="REFUND")
    wc.update_refund_progress(conf.get_client(), complaint.complaint_id, "APPROVE", launch_refund_day=0)
    services.refresh(complaint.complaint_id)
    verdict = rules.can_decide_refund(complaint)
    assert not verdict and "decided already" in verdict.reason


def test_no_refund_decision_without_a_refund_request(desk):
    complaint = stored(desk, problem_type="SERVICE_NOT_WORK")
    outcome = services.decide_refund(complaint, "APPROVE")
    assert not outcome.ok and outcome.code == "NOT_ALLOWED" and not calls(desk, "/update-refund-progress")


def test_complete_only_after_a_reply(desk):
    complaint = stored(desk)
    outcome = services.complete(complaint)
    assert not outcome.ok and outcome.code == "NOT_ALLOWED" and not calls(desk, "/complete")
    with translation.override("zh-hans"):
        assert rules.can_complete(complaint).reason == "请先回复用户；回复后才能反馈处理完成。"
    assert services.send_reply(complaint, "已处理").ok
    complaint.refresh_from_db()
    assert rules.can_complete(complaint)
    assert services.complete(complaint).ok
    complaint.refresh_from_db()
    verdict = rules.can_complete(complaint)
    assert not verdict and verdict.reason == "This complaint is marked complete already."
    assert not rules.can_reply(complaint) and not rules.can_decide_refund(complaint)
