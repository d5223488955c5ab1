"""The complaint's page and screens: clock, flags, timeline in words, assignment, rules, saved replies.

Stale pages are posted through the admin with the sandbox's request log as the
witness: when a rule refuses, nothing reaches WeChat Pay (no upload, no call).
"""

from __future__ import annotations

import datetime
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from django_wxpay_media.complaints import services
from django_wxpay_media.complaints.models import Complaint, Reply, SavedReply
from django_wxpay_media.services import upload_image
from tests.images import png_bytes

from .helpers import aged, desk_staff, with_form_token

pytestmark = pytest.mark.django_db

EVERYTHING = ["reply_complaint", "complete_complaint", "decide_refund_complaint", "change_complaint"]


def staff(username="lead", *codenames):
    return desk_staff(username, "view_complaint", *codenames)


def url(name: str, complaint: Complaint) -> str:
    return reverse(f"admin:wxpay_complaints_complaint_{name}", args=[complaint.pk])


def wechat_calls(desk) -> list[str]:
    """What reached WeChat Pay's side: uploads and complaint calls (not reads of the detail)."""
    return [r.path for r in desk.requests if r.method == "POST"]


def test_the_page_shows_the_clock_flags_and_sentences(client, desk, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    complaint = aged(desk, 26, amount=2000, extra={"in_platform_service": True, "need_immediate_service": True})
    client.force_login(staff())
    page = client.get(url("change", complaint)).content.decode()
    clock = page.split("field-clock", 1)[1].split("field-assignee", 1)[0]
    deadline = timezone.localtime(complaint.complaint_time + datetime.timedelta(hours=24))
    assert "wxpay-due-overdue" in clock and "Reply due" in clock and "overdue by 2" in clock
    assert deadline.strftime("%Y-%m-%d %H:%M") + " CST" in clock  # in the site's time zone
    assert "the consumer does not see your messages meanwhile" in page
    assert "WeChat Pay asks for an immediate answer." in page
    assert ' style="' not in page and "<style" not in page


def test_the_timeline_is_in_words_with_the_code_beside(client, desk):
    complaint = aged(desk, 1)
    desk.consumer_writes(complaint.complaint_id, "请尽快处理")
    services.refresh(complaint.complaint_id)
    client.force_login(staff())
    page = client.get(url("change", complaint)).content.decode()
    timeline = page.split("wxpay-timeline", 1)[1].split("</ol>", 1)[0]
    assert re.search(r"<strong>The consumer wrote</strong> <code>USER_RESPONSE</code>", timeline)
    assert "请尽快处理" in timeline


def test_images_history_and_replies_sit_above_the_close_row(client, desk):
    complaint = aged(desk, 1)
    client.force_login(staff())
    page = client.get(url("change", complaint)).content.decode()
    close = page.index('class="closelink"')
    for heading in ("Consumer images", "Negotiation history", "Replies"):
        assert page.index(f"<h2>{heading}</h2>") < close
    assert page.count('class="closelink"') == 1


def test_assign_to_me_needs_change_permission(client, desk):
    complaint = aged(desk, 1)
    viewer = staff("viewer")
    client.force_login(viewer)
    assert "Assign to me" not in client.get(url("change", complaint)).content.decode()
    assert client.post(url("assign", complaint)).status_code == 403
    lead = staff("lead2", "change_complaint")
    client.force_login(lead)
    assert "Assign to me" in client.get(url("change", complaint)).content.decode()
    page = client.post(url("assign", complaint), follow=True).content.decode()
    complaint.refresh_from_db()
    assert complaint.assignee == lead and "The complaint is assigned to you." in page
    client.post(url("assign", complaint), {"release": "1"})
    complaint.refresh_from_db()
    assert complaint.assignee is None
    assert client.get(url("assign", complaint)).status_code == 302  # a GET changes nothing
    complaint.refresh_from_db()
    assert complaint.assignee is None


def test_a_processed_complaint_offers_no_reply_refund_or_complete(client, desk):
    complaint = aged(desk, 100, "PROCESSED", problem_type="REFUND")
    client.force_login(staff("lead", *EVERYTHING))
    page = client.get(url("change", complaint)).content.decode()
    for name in ("reply", "refund", "complete"):
        assert url(name, complaint) not in page
    # The screen itself sends staff back with the rule's sentence.
    answer = client.get(url("reply", complaint), follow=True).content.decode()
    assert "This complaint is processed; WeChat Pay takes no more replies to it." in answer


def test_a_stale_reply_page_posting_anyway_uploads_and_sends_nothing(client, desk):
    complaint = aged(desk, 1)
    client.force_login(staff("lead", *EVERYTHING))
    data = with_form_token(client, url("reply", complaint), {"content": "您好"})
    Complaint.objects.filter(pk=complaint.pk).update(state="PROCESSED")  # meanwhile it was completed
    before = wechat_calls(desk)
    data["images"] = [SimpleUploadedFile("receipt.png", png_bytes(3), "image/png")]
    response = client.post(url("reply", complaint), data, follow=True, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.redirect_chain == [(url("change", complaint), 302)]  # back to the page, no form to fill
    page = response.content.decode()
    assert "该投诉已处理完成，微信支付不再接受回复。" in page
    assert wechat_calls(desk) == before and not desk.uploads
    assert not Reply.objects.exists()


def test_a_stale_refund_rejection_uploads_no_evidence(client, desk):
    complaint = aged(desk, 1, problem_type="REFUND")
    client.force_login(staff("lead", *EVERYTHING))
    data = with_form_token(client, url("refund", complaint), {"action": "REJECT", "reject_reason": "已签收"})
    Complaint.objects.filter(pk=complaint.pk).update(state="PROCESSED")
    data["images"] = [SimpleUploadedFile("evidence.png", png_bytes(4), "image/png")]
    response = client.post(url("refund", complaint), data, follow=True)
    assert response.redirect_chain == [(url("change", complaint), 302)]
    assert "its refund can no longer be decided" in response.content.decode()
    assert not desk.uploads and not desk.complaint_refund_updates(complaint.complaint_id)


def test_a_reply_starts_from_a_saved_reply_and_attaches_its_images(client, desk):
    complaint = aged(desk, 1, amount=1999, out_trade_no="ORDER42")
    earlier = upload_image(png_bytes(7), filename="earlier.png")
    saved = SavedReply.objects.create(title="Refund arranged", text="订单 {order} 的 ¥{amount} 已退回。")
    saved.images.add(earlier)
    client.force_login(staff("lead", *EVERYTHING))
    plain = client.get(url("reply", complaint)).content.decode()
    assert f"?saved={saved.pk}" in plain and "Refund arranged" in plain
    page = client.get(url("reply", complaint), {"saved": saved.pk}).content.decode()
    assert "订单 ORDER42 的 ¥19.99 已退回。</textarea>" in page
    assert re.search(rf'value="{earlier.pk}"[^>]*checked', page)
    assert 'class="module aligned"' in page and "flex-container" in page  # Django's aligned rows
    uploads_before = len(desk.uploads)
    data = with_form_token(
        client, url("reply", complaint), {"content": "订单 ORDER42 已退回。", "earlier_images": [earlier.pk]}
    )
    client.post(url("reply", complaint), data)
    [body] = desk.complaint_replies(complaint.complaint_id)
    assert body["response_images"] == [earlier.media_id]  # by reference, not uploaded again
    assert len(desk.uploads) == uploads_before


def test_only_a_saved_replys_images_can_be_attached_by_reference(client, desk):
    complaint = aged(desk, 1)
    saved = SavedReply.objects.create(title="T", text="x")
    saved.images.add(upload_image(png_bytes(8), filename="offered.png"))
    other = upload_image(png_bytes(9), filename="private.png")  # never offered
    client.force_login(staff("lead", *EVERYTHING))
    data = with_form_token(client, url("reply", complaint), {"content": "您好", "earlier_images": [other.pk]})
    response = client.post(url("reply", complaint), data)
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not desk.complaint_replies(complaint.complaint_id)


def test_a_saved_reply_with_new_images_stays_within_four(client, desk):
    complaint = aged(desk, 1)
    saved = SavedReply.objects.create(title="T", text="x")
    images = [upload_image(png_bytes(20 + n), filename=f"s{n}.png") for n in range(2)]
    saved.images.add(*images)
    client.force_login(staff("lead", *EVERYTHING))
    files = [SimpleUploadedFile(f"{n}.png", png_bytes(30 + n), "image/png") for n in range(3)]
    data = with_form_token(
        client, url("reply", complaint), {"content": "您好", "earlier_images": [i.pk for i in images], "images": files}
    )
    page = client.post(url("reply", complaint), data).content.decode()
    assert "A reply carries at most 4 images; 5 were chosen." in page
    assert not desk.complaint_replies(complaint.complaint_id)


@given(saved=st.text(max_size=30))
@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_saved_parameter_shows_the_reply_screen(admin_client, desk, saved):
    complaint = Complaint.objects.first() or aged(desk, 1)
    response = admin_client.get(url("reply", complaint), {"saved": saved})
    assert response.status_code == 200


def test_the_page_reads_the_replies_once_however_many(client, desk):
    # The timeline and the replies section share one read (issue 18: the page in at most 12 queries).
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    complaint = aged(desk, 1)
    Reply.objects.bulk_create(Reply(complaint=complaint, content=f"回复 {n}") for n in range(4))
    client.force_login(staff())
    with CaptureQueriesContext(connection) as queries:
        page = client.get(url("change", complaint)).content.decode()
    assert page.count("回复 3") == 2  # in the timeline and in the replies section
    # Quoted with " on SQLite and PostgreSQL, with ` on MariaDB.
    reads = re.compile(r"""SELECT ["`]wxpay_complaints_reply["`]\.["`]id["`]""")
    replies = [q["sql"] for q in queries.captured_queries if reads.match(q["sql"])]
    assert len(replies) == 1
