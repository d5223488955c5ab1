"""A complaint's consumer images are bounded: the first ``MAX_CONSUMER_IMAGES`` are stored and
shown, and the page says how many more WeChat Pay listed."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from django_wxpay_media.complaints import services
from django_wxpay_media.complaints.models import ComplaintImage
from django_wxpay_media.wechatpay import complaints as wc
from tests.grants import sees_every_merchant

from .test_admin import detail

pytestmark = pytest.mark.django_db

LISTED = 3000


def media(count: int, start: int = 0) -> list[dict]:
    urls = [f"https://api.mch.weixin.qq.com/v3/merchant-service/images/m{i}" for i in range(start, start + count)]
    return [{"media_type": "USER_COMPLAINT_IMAGE", "media_url": urls}]


def test_thousands_of_listed_images_store_and_show_a_bounded_number(client, desk):
    complaint = services.store(wc.Complaint.from_json(detail(desk, complaint_media_list=media(LISTED))))
    limit = services.MAX_CONSUMER_IMAGES
    assert ComplaintImage.objects.filter(complaint=complaint).count() == limit
    assert list(complaint.images.values_list("position", flat=True)) == list(range(limit))
    assert complaint.image_count == LISTED
    # Stored again (a refresh): still bounded, nothing duplicated.
    services.store(wc.Complaint.from_json(detail(desk, complaint_media_list=media(LISTED))))
    assert ComplaintImage.objects.filter(complaint=complaint).count() == limit
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_complaint"))
    sees_every_merchant(user)
    client.force_login(user)
    url = reverse("admin:wxpay_complaints_complaint_change", args=[complaint.pk])
    page = client.get(url).content.decode()
    assert page.count('class="wxpay-thumbnails"') == 1
    assert page.count("wxpay_complaints/complaint/image/") == 2 * limit  # each thumbnail: link and img
    assert f"{LISTED - limit} more images are not shown." in page
    chinese = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert f"另有 {LISTED - limit} 张图片未显示。" in chinese


def test_a_complaint_within_the_limit_says_nothing_more(client, desk):
    complaint = services.store(wc.Complaint.from_json(detail(desk, complaint_media_list=media(2))))
    assert complaint.images.count() == 2 and complaint.image_count == 2
    client.force_login(User.objects.create_superuser("boss", password="pw"))
    page = client.get(reverse("admin:wxpay_complaints_complaint_change", args=[complaint.pk])).content.decode()
    assert "not shown" not in page
