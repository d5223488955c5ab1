"""The desk in the admin: list, change page, permissions, forms, Chinese.

Complaints are stored through the service from a detail shaped like WeChat's; the
actions that reach WeChat Pay are covered in test_flow.py against the sandbox.
"""

from __future__ import annotations

import base64
import re

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from django_wxpay_media.complaints import services
from django_wxpay_media.complaints.models import Complaint, Reply
from django_wxpay_media.wechatpay import complaints as wc
from tests.images import png_bytes

from .helpers import desk_staff, with_form_token

pytestmark = pytest.mark.django_db

ALL = ["view_complaint", "reply_complaint", "complete_complaint", "decide_refund_complaint", "view_payer_phone"]


def detail(sandbox, complaint_id="200000000000000000001", **fields):
    phone = base64.b64encode(
        sandbox.keys.merchant_public_key.encrypt(
            b"13800138000", padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
        )
    ).decode()
    return {
        "complaint_id": complaint_id,
        "complaint_time": "2026-11-20T10:00:00+08:00",
        "complaint_detail": "买的东西没有收到",
        "complaint_state": "PENDING",
        "complainted_mchid": "1900000109",
        "payer_phone": phone,
        "problem_description": "未收到货",
        "problem_type": "REFUND",
        "apply_refund_amount": 150,
        "complaint_order_info": [{"transaction_id": "4200000001", "out_trade_no": "ORDER-1", "amount": 300}],
        "complaint_media_list": [],
        **fields,
    }


@pytest.fixture
def complaint(desk):
    return services.store(wc.Complaint.from_json(detail(desk)))


staff = desk_staff


def change_url(complaint):
    return reverse("admin:wxpay_complaints_complaint_change", args=[complaint.pk])


def test_list_filters_and_searches(client, desk, complaint):
    services.store(
        wc.Complaint.from_json(detail(desk, "200000000000000000002", complaint_order_info=[{"out_trade_no": "OTHER"}]))
    )
    client.force_login(staff("viewer", "view_complaint"))
    url = reverse("admin:wxpay_complaints_complaint_changelist")
    page = client.get(url, {"q": "ORDER-1"}).content.decode()
    assert "200000000000000000001" in page and "200000000000000000002" not in page
    page = client.get(url, {"q": "4200000001"}).content.decode()
    assert "200000000000000000001" in page and "200000000000000000002" not in page
    page = client.get(url, {"state__exact": "PROCESSED"}).content.decode()
    assert "200000000000000000001" not in page
    page = client.get(url, {"complainted_mchid": "1900000109"}).content.decode()
    assert "200000000000000000001" in page


def test_the_phone_is_shown_decrypted_only_with_its_permission(client, desk, complaint):
    assert "13800138000" not in Complaint.objects.values_list("payer_phone_encrypted", flat=True)[0]
    client.force_login(staff("viewer", "view_complaint"))
    assert "13800138000" not in client.get(change_url(complaint)).content.decode()
    client.force_login(staff("phone", "view_complaint", "view_payer_phone"))
    assert "13800138000" in client.get(change_url(complaint)).content.decode()


def test_actions_need_their_own_permission(client, desk, complaint):
    client.force_login(staff("viewer", "view_complaint"))
    page = client.get(change_url(complaint)).content.decode()
    for name in ("reply", "complete", "refund"):
        url = reverse(f"admin:wxpay_complaints_complaint_{name}", args=[complaint.pk])
        assert url not in page
        assert client.get(url).status_code == 403
        assert client.post(url, {"content": "x", "confirm": "1", "action": "APPROVE"}).status_code == 403
    assert not Reply.objects.exists()
    assert not [r for r in desk.requests if "complaints-v2" in r.path]


def test_a_reply_allowed_user_sees_the_reply_screen(client, desk, complaint):
    client.force_login(staff("agent", "view_complaint", "reply_complaint"))
    url = reverse("admin:wxpay_complaints_complaint_reply", args=[complaint.pk])
    assert url in client.get(change_url(complaint)).content.decode()
    page = client.get(url).content.decode()
    assert 'data-wxpay-limit="500"' in page and "wxpay_complaints/desk.css" in page and "<style" not in page


def test_a_reply_too_long_is_refused_before_anything_is_stored_or_sent(client, desk, complaint):
    client.force_login(staff("agent", "view_complaint", "reply_complaint"))
    url = reverse("admin:wxpay_complaints_complaint_reply", args=[complaint.pk])
    response = client.post(url, {"content": "退" * (wc.MAX_RESPONSE_CONTENT + 1)})
    assert response.status_code == 200
    assert "501" in response.content.decode()
    assert not Reply.objects.exists() and not desk.requests


def test_a_reply_with_five_images_is_refused(client, desk, complaint):
    client.force_login(staff("agent", "view_complaint", "reply_complaint"))
    url = reverse("admin:wxpay_complaints_complaint_reply", args=[complaint.pk])
    files = [SimpleUploadedFile(f"{i}.png", png_bytes(i), "image/png") for i in range(5)]
    response = client.post(url, {"content": "您好", "images": files})
    assert response.status_code == 200
    assert not Reply.objects.exists() and not desk.requests


def test_a_reply_whose_image_fails_to_upload_is_kept_failed_and_not_sent(client, desk, complaint):
    desk.add_fault("status", count=10, status=400, code="PARAM_ERROR", message="bad image")
    client.force_login(staff("agent", "view_complaint", "reply_complaint"))
    url = reverse("admin:wxpay_complaints_complaint_reply", args=[complaint.pk])
    files = [SimpleUploadedFile("receipt.png", png_bytes(1), "image/png")]
    response = client.post(url, with_form_token(client, url, {"content": "已为您补发", "images": files}), follow=True)
    reply = Reply.objects.get()
    assert reply.state == Reply.State.FAILED and reply.error_code == "IMAGE_UPLOAD_FAILED"
    assert "receipt.png" in reply.error_message
    assert reply.images.count() == 1  # the failed image is kept with it, to retry
    assert response.redirect_chain == [(change_url(complaint), 302)]  # the kept reply is shown there
    page = response.content.decode()
    assert "receipt.png" in page
    assert not [r for r in desk.requests if r.path.endswith("/response")]


def test_the_desk_speaks_chinese(client, desk, complaint):
    client.force_login(staff("agent", *ALL))
    page = client.get(change_url(complaint), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "协商历史" in page and "消费者图片" in page and "付款人手机号" in page
    url = reverse("admin:wxpay_complaints_complaint_reply", args=[complaint.pk])
    page = client.post(url, {"content": "退" * 501}, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "回复有 501 个字；微信支付最多接受 500 个。" in page


def test_the_desks_forms_are_not_nested_in_the_admins_form(client, desk, complaint):
    Reply.objects.create(complaint=complaint, content="x", state=Reply.State.FAILED, error_message="boom")
    client.force_login(staff("agent", *ALL))
    page = client.get(change_url(complaint)).content.decode()
    depth = 0
    for tag in re.findall(r"<(/?)form\b", page):
        depth += -1 if tag else 1
        assert depth <= 1, "a <form> inside another <form>"
    assert "Send again" in page


@pytest.mark.parametrize("model", ["complaint", "reply", "notification"])
def test_records_the_service_writes_cannot_be_added_by_staff(admin_client, model):
    assert admin_client.get(reverse(f"admin:wxpay_complaints_{model}_add")).status_code == 403


def test_a_complaint_cannot_be_changed_or_deleted_by_staff(admin_client, desk, complaint):
    assert admin_client.post(change_url(complaint), {"state": "PROCESSED"}).status_code == 403
    delete = reverse("admin:wxpay_complaints_complaint_delete", args=[complaint.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    complaint.refresh_from_db()
    assert complaint.state == "PENDING"


def test_the_refund_row_shows_only_when_a_refund_was_asked(client, desk, complaint):
    other = detail(desk, "200000000000000000003", problem_type="SERVICE_NOT_WORK")
    del other["apply_refund_amount"]
    no_refund = services.store(wc.Complaint.from_json(other))
    client.force_login(staff("viewer", "view_complaint"))

    assert "field-refund_requested_yuan" in client.get(change_url(complaint)).content.decode()
    assert "¥1.50" in client.get(change_url(complaint)).content.decode()
    assert "field-refund_requested_yuan" not in client.get(change_url(no_refund)).content.decode()


@pytest.mark.parametrize(
    ("content", "sentence"),
    [
        ("已为您补发😀", "WeChat Pay does not accept U+1F600"),
        ("\u200b\u200d\u2060", "no visible characters"),
    ],
    ids=["emoji", "only invisible characters"],
)
def test_a_reply_wechat_would_refuse_is_explained_and_not_sent(client, desk, complaint, content, sentence):
    client.force_login(staff("agent", "view_complaint", "reply_complaint"))
    url = reverse("admin:wxpay_complaints_complaint_reply", args=[complaint.pk])
    response = client.post(url, {"content": content})
    assert response.status_code == 200
    assert sentence in response.content.decode()
    assert not Reply.objects.exists() and not desk.requests
    page = client.post(url, {"content": content}, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert ("微信支付不接受" if "U+" in sentence else "没有可见字符") in page
