"""The desk's instant-service reply: the rule, the service (images uploaded first, then sent with
their media_ids; one form is one message), the screen through Django's test client, in English
and in Chinese, against the sandbox over a real socket."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import translation

from django_wxpay_media.complaints import history_labels, once, rules, services
from django_wxpay_media.complaints.models import Complaint, DeskAction, FormToken
from tests.complaints.helpers import desk_staff, stored, with_form_token
from tests.images import png_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

URGENT = {"need_immediate_service": True}
UPLOAD = "/v3/merchant-service/images/upload"


def instant_path(complaint: Complaint) -> str:
    return f"/v3/merchant-service/complaints-v2/{complaint.complaint_id}/response-immediate-service"


def posts(desk, path: str) -> int:
    return sum(1 for r in desk.requests if r.method == "POST" and r.path == path)


def png(name: str = "a.png", n: int = 0) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, png_bytes(8 + n, 8), content_type="image/png")


def token(complaint: Complaint) -> str:
    return once.issue(complaint, FormToken.Action.INSTANT)


# -- the rule ----------------------------------------------------------------------------------------


def test_only_a_flagged_complaint_not_processed_may_have_one(desk):
    assert rules.can_respond_immediately(stored(desk, extra=URGENT))
    plain = rules.can_respond_immediately(stored(desk))
    assert not plain and "immediate answer" in plain.reason
    done = stored(desk, extra=URGENT, state="PROCESSED")
    assert not rules.can_respond_immediately(done)


# -- the service -------------------------------------------------------------------------------------


def test_images_are_uploaded_then_sent_with_their_media_ids_and_recorded(desk):
    complaint = stored(desk, extra=URGENT)
    outcome = services.respond_immediately(
        complaint,
        "您好，我们马上处理。",
        [png("a.png", 0), png("b.png", 1)],
        form_token=token(complaint),
        link_text="查看订单",
        link_url="https://shop.example/o/1",
    )
    assert outcome.ok, outcome.message
    assert len(desk.uploads) == 2
    (sent,) = desk.complaint_immediate_messages(complaint.complaint_id)
    kinds = [block["type"] for block in sent["message"]["blocks"]]
    assert kinds == ["TEXT", "IMAGE", "IMAGE", "LINK"]
    media_ids = [b["image"]["media_id"] for b in sent["message"]["blocks"] if b["type"] == "IMAGE"]
    assert sorted(media_ids) == sorted(upload.media_id for upload in desk.uploads)
    action = DeskAction.objects.get(complaint=complaint, kind=DeskAction.Kind.INSTANT_SERVICE)
    assert action.log_id and "马上处理" in action.message and action.images.count() == 2
    entry = next(e for e in history_labels.timeline(complaint) if e.code == DeskAction.Kind.INSTANT_SERVICE)
    assert "马上处理" in entry.text and any(action.log_id in line for line in entry.details)


def test_the_same_form_sent_twice_is_one_message_at_wechat(desk):
    complaint = stored(desk, extra=URGENT)
    form_token = token(complaint)
    first = services.respond_immediately(complaint, "您好", form_token=form_token)
    again = services.respond_immediately(complaint, "您好", form_token=form_token)
    assert first.ok and again.ok
    assert posts(desk, instant_path(complaint)) == 2  # sent twice, with one idempotent_id
    assert len(desk.complaint_immediate_messages(complaint.complaint_id)) == 1
    other = services.respond_immediately(complaint, "您好", form_token=token(complaint))
    assert other.ok and len(desk.complaint_immediate_messages(complaint.complaint_id)) == 2


def test_refused_when_not_flagged_nothing_uploaded_or_sent(desk):
    complaint = stored(desk)
    before = len(desk.requests)
    outcome = services.respond_immediately(complaint, "您好", [png()], form_token=token(complaint))
    assert not outcome.ok and outcome.code == "NOT_ALLOWED"
    assert len(desk.requests) == before and desk.uploads == []
    assert not DeskAction.objects.filter(complaint=complaint).exists()


def test_a_message_over_the_limits_uploads_nothing(desk):
    complaint = stored(desk, extra=URGENT)
    before = len(desk.requests)
    outcome = services.respond_immediately(
        complaint, "您好", [png()], form_token=token(complaint), link_text="订单", link_url="http://shop.example/"
    )
    assert not outcome.ok and outcome.code == "INVALID_JUMP_URL"
    assert len(desk.requests) == before and desk.uploads == []


def test_wechats_refusal_is_reported_and_nothing_recorded(desk):
    complaint = stored(desk, extra=URGENT)
    desk.add_fault("status", status=400, code="PARAM_ERROR", signed=True, path=instant_path(complaint))
    outcome = services.respond_immediately(complaint, "您好", form_token=token(complaint))
    assert not outcome.ok and outcome.code == "PARAM_ERROR"
    assert not DeskAction.objects.filter(complaint=complaint).exists()


# -- the screen ----------------------------------------------------------------------------------------


@pytest.fixture
def staff(db) -> Client:
    client = Client()
    client.force_login(desk_staff("lead", "view_complaint", "reply_complaint"))
    return client


def page_url(complaint: Complaint, name: str = "change") -> str:
    return reverse(f"admin:wxpay_complaints_complaint_{name}", args=[complaint.pk])


def test_the_page_links_the_screen_only_when_the_rule_allows(desk, staff):
    urgent, plain = stored(desk, extra=URGENT), stored(desk)
    assert page_url(urgent, "instant") in staff.get(page_url(urgent)).content.decode()
    assert page_url(plain, "instant") not in staff.get(page_url(plain)).content.decode()
    watcher = Client()
    watcher.force_login(desk_staff("watcher", "view_complaint"))
    assert page_url(urgent, "instant") not in watcher.get(page_url(urgent)).content.decode()
    assert watcher.get(page_url(urgent, "instant")).status_code == 403


@pytest.mark.parametrize(
    ("language", "sent", "already"),
    [
        ("en", "The instant-service reply was sent to the consumer.", "submitted already, so nothing was sent again"),
        ("zh-hans", "即时服务回复已发送给消费者。", "已经提交过"),
    ],
)
def test_the_screen_sends_once_and_says_so(desk, staff, language, sent, already):
    complaint = stored(desk, extra=URGENT)
    url = page_url(complaint, "instant")
    with translation.override(language):
        staff.cookies["django_language"] = language
        data = with_form_token(staff, url, {"text": "您好，马上处理。", "images": [png()]})
        first = staff.post(url, data, follow=True, headers={"accept-language": language})
        data["images"] = [png()]
        second = staff.post(url, data, follow=True, headers={"accept-language": language})
    assert sent in first.content.decode()
    assert already in second.content.decode()
    assert len(desk.complaint_immediate_messages(complaint.complaint_id)) == 1
    assert len(desk.uploads) == 1


def test_a_stale_page_of_a_complaint_no_longer_flagged_sends_nothing(desk, staff):
    complaint = stored(desk, extra=URGENT)
    url = page_url(complaint, "instant")
    data = with_form_token(staff, url, {"text": "您好", "images": [png()]})
    Complaint.objects.filter(pk=complaint.pk).update(need_immediate_service=False)
    before = len(desk.requests)
    page = staff.post(url, data, follow=True).content.decode()
    assert "does not ask for an immediate answer" in page
    assert len(desk.requests) == before and desk.uploads == []


def test_the_form_refuses_an_http_link_before_anything_is_sent(desk, staff):
    complaint = stored(desk, extra=URGENT)
    url = page_url(complaint, "instant")
    data = with_form_token(staff, url, {"text": "您好", "link_text": "订单", "link_url": "http://shop.example/"})
    before = len(desk.requests)
    response = staff.post(url, data)
    assert response.status_code == 200 and "HTTPS" in response.content.decode()
    assert len(desk.requests) == before
