"""The demo's two shops and its staff member ``agent``, who sees only the first shop."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from django_wxpay_media.complaints.models import Complaint
from django_wxpay_media.demo import desk, staff

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root")]


def test_the_agent_sees_only_the_first_shops_complaints(live_server, wxpay_settings, settings):
    # The demo's settings: the sandbox's merchant is a service provider for the two shops.
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "SERVICE_PROVIDER": True, "SUB_MERCHANTS": list(desk.SUB_MERCHANTS)}
    report = desk.open_desk(wxpay_settings, f"{live_server.url}/wxpay/complaints/notify/")
    assert report.problems == [] and report.arrived == report.complaint_ids
    shops = dict(Complaint.objects.values_list("complaint_id", "complainted_mchid"))
    assert set(shops.values()) == set(desk.SUB_MERCHANTS)
    first = {cid for cid, mchid in shops.items() if mchid == desk.SUB_MERCHANTS[0]}

    password = staff.agent_password()
    client = Client()
    assert client.login(username=staff.AGENT, password=password)  # the printed password works
    changelist = client.get(reverse("admin:wxpay_complaints_complaint_changelist")).context["cl"]
    assert {c.complaint_id for c in changelist.result_list} == first
    assert changelist.result_count == len(first) < len(shops)  # the scoped count (no whole-table count here)
    other = Complaint.objects.exclude(complainted_mchid=desk.SUB_MERCHANTS[0]).first()
    page = client.get(reverse("admin:wxpay_complaints_complaint_change", args=[other.pk]))
    assert page.status_code == 302  # the admin's "does not exist" redirect

    # A second run resets the password and keeps one grant.
    again = staff.agent_password()
    assert again != password and Client().login(username=staff.AGENT, password=again)
    assert not Client().login(username=staff.AGENT, password=password)
