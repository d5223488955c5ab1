"""Saved replies with placeholders, and the admin page that keeps them."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from django_wxpay_media.complaints import saved_replies, services
from django_wxpay_media.complaints.models import Complaint, SavedReply
from django_wxpay_media.services import upload_image
from tests.images import png_bytes

pytestmark = pytest.mark.django_db


def test_placeholders_become_the_order_number_and_amount(desk):
    cid = desk.seed_complaint(images=0, amount=1999, out_trade_no="ORDER42")["complaint_id"]
    complaint = services.refresh(cid).complaint
    assert complaint is not None
    image = upload_image(png_bytes(7), filename="earlier.png")  # an earlier upload
    assert image.media_id
    saved = SavedReply.objects.create(title="Refund", text="订单 {order} 的 ¥{amount} 已退回。{unknown} {0} {")
    saved.images.add(image)
    draft = saved_replies.render(saved, complaint)
    assert draft.text == "订单 ORDER42 的 ¥19.99 已退回。{unknown} {0} {"  # stray braces stay text
    assert draft.images == [image]
    assert services.send_reply(complaint, draft.text, draft.images).ok
    assert desk.complaint_replies(cid)[0]["response_images"] == [image.media_id]


def test_a_complaint_without_an_order_renders_empty_placeholders():
    complaint = Complaint(complaint_id="C", state="PENDING", complainted_mchid="1")
    assert saved_replies.render_text("[{order}][{amount}]", complaint) == "[][]"


def test_saved_replies_are_kept_in_the_admin(client):
    admin = User.objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(admin)
    response = client.post(
        "/admin/wxpay_complaints/savedreply/add/", {"title": "Hello", "text": "您好，订单 {order} 已处理。"}
    )
    assert response.status_code == 302, response.content[:500]
    assert SavedReply.objects.get().text == "您好，订单 {order} 已处理。"
    assert client.get("/admin/wxpay_complaints/savedreply/").status_code == 200


def test_the_assignee_is_a_user_and_unassigned_is_a_filter(desk):
    cid = desk.seed_complaint(images=0)["complaint_id"]
    complaint = services.refresh(cid).complaint
    assert complaint is not None
    owner = User.objects.create_user("owner", is_staff=True)
    assert Complaint.objects.filter(assignee__isnull=True).get() == complaint
    Complaint.objects.filter(pk=complaint.pk).update(assignee=owner)
    assert list(Complaint.objects.filter(assignee=owner)) == [complaint]
    services.refresh(cid)  # a refresh from WeChat keeps the assignment
    complaint.refresh_from_db()
    assert complaint.assignee == owner
