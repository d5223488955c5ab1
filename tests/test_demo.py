"""The demo's complaint desk (:mod:`django_wxpay_media.demo.desk`) against a sandbox and a live site.

The whole demo process is driven in ``tests/test_main.py``; here its steps run
in-process so that a failure of each can be staged.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from django_wxpay_media.complaints import services
from django_wxpay_media.complaints.models import Complaint, Notification, Reply
from django_wxpay_media.demo import desk
from django_wxpay_media.demo.runner import _printable
from django_wxpay_media.sandbox import NOTIFICATIONS_PATH

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root")]

NOTIFY_PATH = "/wxpay/complaints/notify/"


def test_complaints_arrive_through_the_notification_view(live_server, wxpay_settings):
    sandbox = wxpay_settings
    url = f"{live_server.url}{NOTIFY_PATH}"

    report = desk.open_desk(sandbox, url)

    assert report.problems == []
    assert report.registered and sandbox.complaint_notification_url == url
    assert len(report.complaint_ids) == len(desk.SEEDS) == 4
    assert report.arrived == report.complaint_ids
    # Each row was written by the view: a notification recorded, the detail fetched from the sandbox.
    assert sorted(Notification.objects.values_list("complaint_id", flat=True)) == sorted(report.complaint_ids)
    notified = [r for r in sandbox.requests if r.path == NOTIFICATIONS_PATH]
    assert [r.method for r in notified] == ["GET", "POST"]  # none registered yet, so created
    complaints = {c.complaint_id: c for c in Complaint.objects.all()}
    assert set(complaints) == set(report.complaint_ids)
    for spec, complaint_id in zip(desk.SEEDS, report.complaint_ids, strict=True):
        complaint = complaints[complaint_id]
        assert (complaint.state, complaint.problem_type) == (spec["state"], spec["problem_type"])
        assert complaint.detail == spec["complaint_detail"]
        assert complaint.images.count() == spec["images"] >= 1  # every complaint has pictures
    assert {c.state for c in complaints.values()} == {"PENDING", "PROCESSING", "PROCESSED"}
    assert {c.problem_type for c in complaints.values()} == {"REFUND", "SERVICE_NOT_WORK", "OTHERS"}


def test_a_second_run_clears_the_complaints_the_new_sandbox_does_not_know(live_server, wxpay_settings):
    url = f"{live_server.url}{NOTIFY_PATH}"
    first = desk.open_desk(wxpay_settings, url)
    answered = Complaint.objects.get(complaint_id=first.complaint_ids[0])
    Reply.objects.create(complaint=answered, content="x")
    viewed = answered.images.first()
    assert services.download_image(viewed).ok  # as the change page does
    viewed.refresh_from_db()
    stored = Path(viewed.file.path)
    assert stored.read_bytes() == desk.picture(0)

    second = desk.open_desk(wxpay_settings, url)

    assert second.cleared == 4
    assert not stored.exists()  # the downloaded copy went with its complaint
    assert set(Complaint.objects.values_list("complaint_id", flat=True)) == set(second.complaint_ids)
    assert not set(first.complaint_ids) & set(second.complaint_ids)
    assert not Reply.objects.exists()
    assert Notification.objects.count() == 4


def test_when_the_url_cannot_be_registered_the_site_is_notified_directly(live_server, wxpay_settings):
    sandbox = wxpay_settings
    sandbox.add_fault("status", count=5, path=NOTIFICATIONS_PATH, status=403, code="NO_AUTH", message="无权限")

    report = desk.open_desk(sandbox, f"{live_server.url}{NOTIFY_PATH}")

    assert not report.registered and sandbox.complaint_notification_url is None
    [problem] = report.problems
    assert problem.startswith("The notification URL could not be registered:")
    assert report.arrived == report.complaint_ids and Complaint.objects.count() == 4


def test_a_site_that_refuses_the_notifications_is_reported(live_server, wxpay_settings, settings):
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "APIV3_KEY": "0" * 32}  # the site cannot decrypt them

    report = desk.open_desk(wxpay_settings, f"{live_server.url}{NOTIFY_PATH}")

    assert report.arrived == []
    assert len(report.problems) == 4
    assert all("answered the notification with HTTP 401" in problem for problem in report.problems)
    assert not Complaint.objects.exists()


def test_an_unreachable_site_is_reported_not_raised(wxpay_settings):
    report = desk.open_desk(wxpay_settings, "http://127.0.0.1:9/wxpay/complaints/notify/")  # discard port

    assert report.arrived == []
    assert len(report.problems) == 4
    assert all("could not be delivered" in problem for problem in report.problems)


def test_the_banner_survives_a_terminal_that_cannot_write_chinese():
    ascii_stream = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    utf8_stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")

    assert _printable("试一试 Try", ascii_stream) == "\\u8bd5\\u4e00\\u8bd5 Try"
    assert _printable("试一试 Try", utf8_stream) == "试一试 Try"
