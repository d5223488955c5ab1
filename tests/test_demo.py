"""The demo's complaint desk (:mod:`django_wxpay_media.demo.desk`) against a sandbox and a live site.

The whole demo process is driven in ``tests/test_main.py``; here its steps run
in-process so that a failure of each can be staged.
"""

from __future__ import annotations

import datetime
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
    assert len(report.complaint_ids) == len(desk.SEEDS) == 5
    assert report.arrived == report.complaint_ids
    # Each row was written by the view: a notification recorded, the detail fetched from the sandbox.
    created = Notification.objects.filter(action_type="CREATE_COMPLAINT")
    assert sorted(created.values_list("complaint_id", flat=True)) == sorted(report.complaint_ids)
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

    assert second.cleared == len(desk.SEEDS)
    assert not stored.exists()  # the downloaded copy went with its complaint
    assert set(Complaint.objects.values_list("complaint_id", flat=True)) == set(second.complaint_ids)
    assert not set(first.complaint_ids) & set(second.complaint_ids)
    assert not Reply.objects.exists()
    assert Notification.objects.count() == len(desk.SEEDS) + 1  # and one USER_RESPONSE


def test_when_the_url_cannot_be_registered_the_site_is_notified_directly(live_server, wxpay_settings):
    sandbox = wxpay_settings
    sandbox.add_fault("status", count=5, path=NOTIFICATIONS_PATH, status=403, code="NO_AUTH", message="无权限")

    report = desk.open_desk(sandbox, f"{live_server.url}{NOTIFY_PATH}")

    assert not report.registered and sandbox.complaint_notification_url is None
    [problem] = report.problems
    assert problem.startswith("The notification URL could not be registered:")
    assert report.arrived == report.complaint_ids and Complaint.objects.count() == len(desk.SEEDS)


def test_a_site_that_refuses_the_notifications_is_reported(live_server, wxpay_settings, settings):
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "APIV3_KEY": "0" * 32}  # the site cannot decrypt them

    report = desk.open_desk(wxpay_settings, f"{live_server.url}{NOTIFY_PATH}")

    assert report.arrived == []
    assert len(report.problems) == len(desk.SEEDS) + 1  # and the consumer's new message
    assert all("answered the notification with HTTP 401" in problem for problem in report.problems)
    assert not Complaint.objects.exists()


def test_an_unreachable_site_is_reported_not_raised(wxpay_settings):
    report = desk.open_desk(wxpay_settings, "http://127.0.0.1:9/wxpay/complaints/notify/")  # discard port

    assert report.arrived == []
    assert len(report.problems) == len(desk.SEEDS) + 1
    assert all("could not be delivered" in problem for problem in report.problems)


def test_the_banner_survives_a_terminal_that_cannot_write_chinese():
    ascii_stream = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    utf8_stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")

    assert _printable("试一试 Try", ascii_stream) == "\\u8bd5\\u4e00\\u8bd5 Try"
    assert _printable("试一试 Try", utf8_stream) == "试一试 Try"


def test_the_demo_opens_on_a_desk_with_something_due_overdue_and_urgent(live_server, wxpay_settings):
    from django.utils import timezone

    from django_wxpay_media.complaints import deadlines, flags

    report = desk.open_desk(wxpay_settings, f"{live_server.url}{NOTIFY_PATH}")
    assert report.problems == []
    now = timezone.now()
    listed = list(Complaint.objects.due_first(now))
    # What is due first comes first: the overdue reply, then the two due within the hour.
    overdue, soon, also_soon = listed[:3]
    assert overdue.urgency == deadlines.OVERDUE and overdue.clock == deadlines.REPLY
    for complaint in (soon, also_soon):
        assert complaint.urgency == deadlines.DUE_SOON
        assert complaint.due_at - now < datetime.timedelta(hours=1)
    urgent = Complaint.objects.get(need_immediate_service=True)
    assert flags.IMMEDIATE_SERVICE in flags.codes(flags.flags_for(urgent))
    # The consumer who wrote again was announced by a USER_RESPONSE notification, and is flagged.
    [writer] = report.wrote_again
    assert Notification.objects.filter(complaint_id=writer, action_type="USER_RESPONSE").exists()
    assert Complaint.objects.filter(flags.filter_q(flags.WROTE_AGAIN)).get().complaint_id == writer
    counts = Complaint.objects.desk_counts(now)
    assert counts == {"pending": 3, "pending_overdue": 1, "processing": 1, "processing_overdue": 0, "processed": 1}
    assert desk.saved_reply().text.count("{order}") == 1  # a saved reply to start from
