"""Notifications answered at once when background tasks are configured (BACKGROUND_NOTIFICATIONS):
the refresh is enqueued, the notification is handled only when the worker stored the complaint,
and a redelivery meanwhile enqueues nothing. The dummy backend keeps tasks without running them."""

from __future__ import annotations

import pytest
from django.test import Client

from django_wxpay_media.complaints.models import Complaint, Notification

from .test_notifications import detail_fetches, post

tasks = pytest.importorskip("django_wxpay_media.complaints.tasks")
dummy = pytest.importorskip("django_tasks.backends.dummy")

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(desk, settings):
    """Notifications go to the dummy task backend; returns the backend (its ``results``)."""
    from django_tasks import task_backends

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "BACKGROUND_NOTIFICATIONS": True}
    backend = task_backends["default"]
    backend.clear()
    return backend


def test_a_notification_is_answered_before_its_refresh_runs(desk, queued):
    cid = desk.seed_complaint(images=0)["complaint_id"]
    headers, body = desk.notification(cid)
    assert post(Client(), headers, body).status_code == 204
    # Answered without a call to WeChat Pay: the refresh waits on the task backend.
    assert detail_fetches(desk, cid) == []
    assert not Complaint.objects.exists()
    [result] = queued.results
    record = Notification.objects.get()
    assert record.state == Notification.State.RECEIVED  # not handled: its complaint is not stored
    # WeChat Pay delivers it again before the worker ran: nothing enqueued twice.
    assert post(Client(), headers, body).status_code == 503
    assert len(queued.results) == 1
    # The worker runs it: the complaint is stored, and only now the notification is handled.
    assert result.task.call(*result.args, **result.kwargs) == "accepted"
    assert Complaint.objects.filter(complaint_id=cid).exists()
    record.refresh_from_db()
    assert record.state == Notification.State.HANDLED
    # A copy of the task run again does nothing; so does a later redelivery.
    assert result.task.call(*result.args, **result.kwargs) == "duplicate"
    assert post(Client(), headers, body).status_code == 204
    assert len(detail_fetches(desk, cid)) == 1 and len(queued.results) == 1


def test_without_tasks_a_known_unchanged_complaint_is_not_read_again(desk):
    cid = desk.seed_complaint(images=0)["complaint_id"]
    headers, body = desk.notification(cid)
    assert post(Client(), headers, body).status_code == 204
    desk.reset()
    headers, body = desk.notification(cid, "USER_RESPONSE")  # another notification, nothing changed
    assert post(Client(), headers, body).status_code == 204
    called = [r.path.split("?")[0] for r in desk.requests]
    assert called == [f"/v3/merchant-service/complaints-v2/{cid}"]  # the detail once; no history


def test_a_queued_notification_is_claimed_for_the_wait_in_its_one_write(desk, queued):
    """The row is created claimed long enough for a worker to come (QUEUE_MARGIN): one INSERT,
    no second write before the answer, and a redelivery meanwhile enqueues nothing."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from django_wxpay_media.complaints.notifications import QUEUE_MARGIN

    cid = desk.seed_complaint(images=0)["complaint_id"]
    headers, body = desk.notification(cid)
    with CaptureQueriesContext(connection) as queries:
        assert post(Client(), headers, body).status_code == 204
    writes = [q["sql"].split(None, 1)[0].upper() for q in queries.captured_queries]
    assert writes.count("INSERT") == 1 and "UPDATE" not in writes
    record = Notification.objects.get()
    assert record.claimed_until - timezone.now() > QUEUE_MARGIN
    assert post(Client(), headers, body).status_code == 503 and len(queued.results) == 1
