"""The history in words: WeChat's operate_types labelled, the desk's actions on the same timeline."""

from __future__ import annotations

import pytest
from django.utils import translation

from django_wxpay_media.complaints import history_labels, services
from django_wxpay_media.complaints.history_labels import OPERATE_TYPES, operate_type_label, timeline
from django_wxpay_media.complaints.models import Complaint, HistoryEntry
from tests.complaints.helpers import post

pytestmark = pytest.mark.django_db


def test_every_documented_operate_type_has_a_translated_label_with_its_code():
    assert len(OPERATE_TYPES) >= 25
    for code in OPERATE_TYPES:
        english = operate_type_label(code)
        with translation.override("zh-hans"):
            chinese = operate_type_label(code)
        assert english.endswith(f"({code})") and chinese.endswith(f"({code})")
        assert chinese != english, code  # translated
    assert operate_type_label("SOMETHING_NEW") == "SOMETHING_NEW"
    with translation.override("zh-hans"):
        assert operate_type_label("MERCHANT_REFUSE_RERUND") == "商户驳回退款 (MERCHANT_REFUSE_RERUND)"


def test_history_is_loaded_when_a_complaint_first_arrives_by_notification(client, desk):
    cid = desk.seed_complaint(images=1)["complaint_id"]
    headers, body = desk.notification(cid)
    assert post(client, headers, body).status_code == 204
    complaint = Complaint.objects.get(complaint_id=cid)
    assert [step.operate_type for step in complaint.history.all()] == ["USER_CREATE_COMPLAINT"]

    # A later notification reads the detail, and the history only because the detail changed,
    # from the last stored entry on (WeChat waits for the answer).
    def history_calls():
        return [r for r in desk.requests if r.path.split("?")[0].endswith("/negotiation-historys")]

    before = len(history_calls())
    assert before == 1
    desk.consumer_writes(cid, "还在等")
    headers, body = desk.notification(cid, "USER_RESPONSE")
    assert post(client, headers, body).status_code == 204
    assert len(history_calls()) == before + 1
    assert [step.operate_type for step in complaint.history.order_by("operate_time", "pk")] == [
        "USER_CREATE_COMPLAINT",
        "USER_RESPONSE",
    ]
    # Nothing changed since: the detail alone.
    headers, body = desk.notification(cid, "USER_RESPONSE", notification_id="again-1")
    assert post(client, headers, body).status_code == 204
    assert len(history_calls()) == before + 1


def test_history_is_loaded_by_sync(desk):
    cid = desk.seed_complaint(images=0)["complaint_id"]
    assert services.sync(1).ok
    assert HistoryEntry.objects.filter(complaint__complaint_id=cid, operate_type="USER_CREATE_COMPLAINT").exists()


def test_the_timeline_reads_as_sentences_with_the_desks_own_actions(desk):
    cid = desk.seed_complaint(problem_type="REFUND", images=0)["complaint_id"]
    complaint = services.refresh(cid).complaint
    assert complaint is not None
    assert services.decide_refund(complaint, "APPROVE", remark="原路退回", launch_refund_day=3).ok
    assert services.send_reply(complaint, "已同意退款，三天内到账。").ok
    complaint.refresh_from_db()
    assert services.complete(complaint).ok
    entries = timeline(complaint)
    wechat = [(e.code, e.label) for e in entries if e.source == "wechat"]
    assert wechat == [
        ("USER_CREATE_COMPLAINT", "The consumer filed the complaint (USER_CREATE_COMPLAINT)"),
        ("MERCHANT_APPROVE_REFUND", "The merchant approved the refund (MERCHANT_APPROVE_REFUND)"),
        ("MERCHANT_RESPONSE", "The merchant replied (MERCHANT_RESPONSE)"),
        ("MERCHANT_CONFIRM_COMPLETE", "The merchant marked it complete (MERCHANT_CONFIRM_COMPLETE)"),
    ]
    desk_entries = {e.code: e for e in entries if e.source == "desk"}
    assert desk_entries["APPROVE_REFUND"].details == ["Remark: 原路退回", "Refund in 3 days."]
    assert desk_entries["REPLY"].text == "已同意退款，三天内到账。" and desk_entries["REPLY"].details == []
    assert desk_entries["COMPLETE"].label == "Marked complete"
    assert [e.at for e in entries] == sorted(e.at for e in entries)


def test_a_rejection_shows_its_reason_and_images(desk):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.images import png_bytes

    cid = desk.seed_complaint(problem_type="REFUND", images=0)["complaint_id"]
    complaint = services.refresh(cid).complaint
    assert complaint is not None
    image = SimpleUploadedFile("signed.png", png_bytes(4), "image/png")
    assert services.decide_refund(complaint, "REJECT", reason="商品已签收", images=[image]).ok
    action = complaint.desk_actions.get()
    assert action.images.count() == 1 and action.reason == "商品已签收"
    with translation.override("zh-hans"):
        entry = next(e for e in history_labels.timeline(complaint) if e.source == "desk")
    assert entry.label == "已驳回退款" and entry.details == ["原因：商品已签收"]
