"""The complaint admin through Django's own doors.

Its screens find complaints with ``get_object()`` (so through ``get_queryset()``),
reverse their URLs for the admin site they are registered on, and answer an id
that does not exist like the admin's change view does: a redirect to the site's
index with a message.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from django_wxpay_media.complaints import services
from django_wxpay_media.complaints.models import Notification
from django_wxpay_media.wechatpay import complaints as wc

from .helpers import with_form_token
from .site_urls import SCOPED_MCHID
from .test_admin import detail

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.urls("tests.complaints.site_urls"),
    pytest.mark.usefixtures("media_root"),
]

SCREENS = ["reply", "complete", "refund", "refresh"]


@pytest.fixture
def boss(client):
    client.force_login(User.objects.create_superuser("boss", password="pw"))
    return client


@pytest.fixture
def complaint(desk):
    media = [{"media_type": "USER_COMPLAINT_IMAGE", "media_url": ["https://api.mch.weixin.qq.com/v3/x/m1"]}]
    return services.store(wc.Complaint.from_json(detail(desk, complaint_media_list=media)))


def desk_url(name: str, *args) -> str:
    return reverse(f"admin:wxpay_complaints_complaint_{name}", args=args, current_app="desk")


def test_every_link_of_the_desk_stays_on_its_admin_site(boss, complaint):
    page = boss.get(desk_url("change", complaint.pk)).content.decode()
    targets = re.findall(r'(?:href|action|src)="(/(?!static/)[^"]*wxpay_complaints/[^"]*)"', page)
    assert targets and all(target.startswith("/desk/") for target in targets), targets
    for name in ("reply", "refund", "refresh"):  # complete: only once answered
        assert desk_url(name, complaint.pk) in page
    form = boss.get(desk_url("reply", complaint.pk)).content.decode()
    assert f'href="{desk_url("change", complaint.pk)}"' in form  # breadcrumbs and cancel
    response = boss.post(desk_url("reply", complaint.pk), with_form_token(boss, desk_url("reply", complaint.pk), {}))
    assert response.status_code == 200  # empty text: the form again, still on this site
    data = with_form_token(boss, desk_url("reply", complaint.pk), {"content": "您好"})
    response = boss.post(desk_url("reply", complaint.pk), data)
    assert response.status_code == 302 and response.url == desk_url("change", complaint.pk)


def test_the_notification_list_links_to_the_complaint_on_its_own_site(boss, complaint):
    Notification.objects.create(notification_id="n1", complaint_id=complaint.complaint_id)
    url = reverse("admin:wxpay_complaints_notification_changelist", current_app="desk")
    assert f'href="{desk_url("change", complaint.pk)}"' in boss.get(url).content.decode()


@pytest.mark.parametrize("site", ["admin", "desk"])
@pytest.mark.parametrize("missing", ["999999", "not-a-number"])
@pytest.mark.parametrize("screen", SCREENS)
def test_a_missing_complaint_is_the_admins_redirect_with_a_message(boss, desk, site, missing, screen):
    url = reverse(f"admin:wxpay_complaints_complaint_{screen}", args=[missing], current_app=site)
    for method in (boss.get, boss.post):
        response = method(url, follow=True)
        assert response.redirect_chain == [(reverse("admin:index", current_app=site), 302)]
        assert f"Complaint with ID “{missing}” doesn’t exist. Perhaps it was deleted?" in response.content.decode()
    assert not desk.requests


def test_the_message_for_a_missing_complaint_is_translated(boss):
    url = desk_url("reply", "999999")
    page = boss.get(url, follow=True, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "ID 为“999999”的 投诉 不存在。" in page


def test_a_missing_reply_to_resend_is_not_found(boss, complaint):
    assert boss.post(desk_url("resend", complaint.pk, 999999)).status_code == 404


def test_the_screens_go_through_get_queryset(boss, desk):
    ours = services.store(wc.Complaint.from_json(detail(desk, "200000000000000000001")))
    media = [{"media_type": "USER_COMPLAINT_IMAGE", "media_url": ["https://api.mch.weixin.qq.com/v3/x/m2"]}]
    other = services.store(
        wc.Complaint.from_json(
            detail(desk, "200000000000000000002", complainted_mchid="1900000999", complaint_media_list=media)
        )
    )
    assert ours.complainted_mchid == SCOPED_MCHID != other.complainted_mchid

    def scoped(name, *args):
        return reverse(f"admin:wxpay_complaints_complaint_{name}", args=args, current_app="scoped")

    assert boss.get(scoped("reply", ours.pk)).status_code == 200
    for screen in SCREENS:
        response = boss.get(scoped(screen, other.pk))
        assert response.status_code == 302 and response.url == reverse("admin:index", current_app="scoped")
    assert boss.get(scoped("image", other.images.get().pk)).status_code == 404
    assert not desk.requests  # nothing fetched for a complaint outside the list
    # The same complaint on the unscoped site is there.
    assert boss.get(desk_url("reply", other.pk)).status_code == 200
