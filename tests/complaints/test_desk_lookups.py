"""The changelists filter only on what they offer: no lookups on hidden fields from the URL.

View-only staff must not probe ``payer_phone_encrypted__…``, ``raw__…`` or any other
field a list does not offer as a filter; Django answers such a URL with 400. The
offered filters' own links keep working.
"""

from __future__ import annotations

import html
import re

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from django_wxpay_media.complaints import services
from django_wxpay_media.complaints.models import Notification, Reply
from django_wxpay_media.wechatpay import complaints as wc

from .test_admin import detail

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

REFUSED = {
    "wxpay_complaints_complaint": [
        "payer_phone_encrypted__startswith=A",
        "payer_phone_encrypted=x",
        "raw__icontains=1380",
        "raw__complaint_id=1",
        "detail__icontains=x",
        "images__media_url__contains=https",
        "replies__content__icontains=x",
    ],
    "wxpay_complaints_reply": ["content__icontains=x", "error_message__startswith=x", "complaint__raw__icontains=x"],
    "wxpay_complaints_notification": ["complaint_id__startswith=2", "refresh_error=x"],
    "django_wxpay_media_feedbackimage": ["sha256__startswith=a", "error_message__icontains=x", "mchid=1"],
}
OFFERED = {
    "wxpay_complaints_complaint": [
        "state__exact=PENDING",
        "complainted_mchid=1900000109",
        "problem_type__exact=REFUND",
    ],
    "wxpay_complaints_reply": ["state__exact=sent"],
    "wxpay_complaints_notification": ["event_type=COMPLAINT.CREATE"],
    "django_wxpay_media_feedbackimage": ["status__exact=failed"],
}


@pytest.fixture
def viewer(client, desk):
    complaint = services.store(wc.Complaint.from_json(detail(desk)))
    Reply.objects.create(complaint=complaint, content="您好", state=Reply.State.SENT)
    Notification.objects.create(notification_id="n1", complaint_id=complaint.complaint_id, event_type="x")
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    client.force_login(user)
    return client


@pytest.mark.parametrize(("changelist", "query"), [(c, q) for c, queries in REFUSED.items() for q in queries])
def test_a_lookup_the_list_does_not_offer_is_refused(viewer, changelist, query):
    assert viewer.get(f"{reverse(f'admin:{changelist}_changelist')}?{query}").status_code == 400


@pytest.mark.parametrize(("changelist", "query"), [(c, q) for c, queries in OFFERED.items() for q in queries])
def test_the_offered_filters_work(viewer, changelist, query):
    assert viewer.get(f"{reverse(f'admin:{changelist}_changelist')}?{query}").status_code == 200


@pytest.mark.parametrize("changelist", list(OFFERED))
def test_every_filter_link_of_the_sidebar_works(viewer, changelist):
    url = reverse(f"admin:{changelist}_changelist")
    page = viewer.get(url).content.decode()
    sidebar = page[page.index('id="changelist-filter"') :]
    queries = {html.unescape(q) for q in re.findall(r'href="(\?[^"]+)"', sidebar)}
    assert queries
    for query in queries:
        assert viewer.get(url + query).status_code == 200, query
