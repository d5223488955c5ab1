"""A notification is handled exactly when its complaint is stored (issue 14, item 1).

Against the sandbox over a real socket, in transactional tests (several threads
and connections, as in production): a refresh that fails for a reason other than a
WeChat error leaves the notification *failed* and a redelivery stores the
complaint; simultaneous copies give one row and one fetch; the view holds no
transaction while WeChat Pay answers, even with ``ATOMIC_REQUESTS``.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth.models import User
from django.db import connection, connections
from django.test import Client
from django.urls import reverse

from django_wxpay_media.complaints.models import Complaint, Notification
from tests.helpers import closing_connections, idle_in_transaction_sessions, in_thread

pytestmark = pytest.mark.django_db(transaction=True)

NOTIFY = "/wxpay/complaints/notify/"
HOLD_SECONDS = 4.0  # how long the sandbox holds the detail request


def post(client, headers, body):
    extra = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in dict(headers).items()}
    return client.generic("POST", NOTIFY, body, content_type="application/json", **extra)


def detail_path(complaint_id: str) -> str:
    return f"/v3/merchant-service/complaints-v2/{complaint_id}"


def detail_fetches(sandbox, complaint_id):
    return [r for r in sandbox.requests if r.method == "GET" and r.path == detail_path(complaint_id)]


def test_a_database_error_leaves_it_failed_and_a_redelivery_stores_the_complaint(desk, caplog):
    cid = desk.seed_complaint()["complaint_id"]
    # A detail the database refuses (a negative amount breaks the column's CHECK constraint): not a WeChat error.
    desk.add_fault("rewrite_json", path=detail_path(cid), fields={"apply_refund_amount": -1})
    headers, body = desk.notification(cid)
    with caplog.at_level(logging.ERROR, logger="django_wxpay_media.complaints"):
        assert post(Client(), headers, body).status_code == 500
    record = Notification.objects.get()
    assert record.state == Notification.State.FAILED
    assert record.refresh_error == "DATABASE_ERROR" and "could not be stored" in record.error_message
    assert record.claimed_until is None
    assert not Complaint.objects.exists()
    assert any(cid in message for message in caplog.messages)  # logged, with the complaint id
    # WeChat Pay's redelivery of the same notification tries again, and this time it is stored.
    assert post(Client(), headers, body).status_code == 204
    assert Complaint.objects.filter(complaint_id=cid).exists()
    record.refresh_from_db()
    assert (record.state, record.refresh_error, record.error_message) == (Notification.State.HANDLED, "", "")
    # Once handled, a further copy is a duplicate: nothing fetched.
    fetched = len(detail_fetches(desk, cid))
    assert post(Client(), headers, body).status_code == 204
    assert len(detail_fetches(desk, cid)) == fetched == 2


def test_failed_notifications_show_in_their_admin(desk):
    cid = desk.seed_complaint()["complaint_id"]
    desk.add_fault("rewrite_json", path=detail_path(cid), fields={"apply_refund_amount": -1})
    headers, body = desk.notification(cid)
    assert post(Client(), headers, body).status_code == 500
    staff = Client()
    staff.force_login(User.objects.create_superuser("boss", password="pw"))
    url = reverse("admin:wxpay_complaints_notification_changelist")
    page = staff.get(url).content.decode()
    assert "DATABASE_ERROR" in page and "state__exact=failed" in page  # the column and the filter
    assert cid in staff.get(url, {"state__exact": "failed"}).content.decode()
    assert cid not in staff.get(url, {"state__exact": "handled"}).content.decode()


def test_twenty_simultaneous_copies_give_one_row_and_one_fetch(desk):
    cid = desk.seed_complaint()["complaint_id"]
    headers, body = desk.notification(cid)
    start = threading.Barrier(20)

    def deliver():
        start.wait(timeout=30)
        return post(Client(), headers, body).status_code

    with ThreadPoolExecutor(20) as pool:
        statuses = [f.result(timeout=120) for f in [pool.submit(closing_connections(deliver)) for _ in range(20)]]
    assert Notification.objects.count() == 1
    assert len(detail_fetches(desk, cid)) == 1
    assert statuses.count(204) >= 1
    assert set(statuses) <= {204, 503, 500}  # the others: "being handled" or not recorded; WeChat sends again
    assert Notification.objects.get().state == Notification.State.HANDLED
    assert Complaint.objects.filter(complaint_id=cid).count() == 1


def _start_held_notification(desk, cid):
    """Post a notification in another thread while the sandbox holds the detail request."""
    desk.add_fault("delay", path=detail_path(cid), seconds=HOLD_SECONDS)
    headers, body = desk.notification(cid)
    pool = ThreadPoolExecutor(1)
    future = pool.submit(closing_connections(lambda: post(Client(), headers, body)))
    pool.shutdown(wait=False)
    arrived = threading.Event()
    for _ in range(600):  # the fault is taken when the detail request arrives
        if not desk.pending_faults or future.done():
            arrived.set()
            break
        threading.Event().wait(0.05)
    assert arrived.is_set() and not future.done(), "the detail request never reached the sandbox"
    return future


@pytest.fixture
def atomic_requests():
    """``ATOMIC_REQUESTS = True``, as a site may set it."""
    settings_dict = connections["default"].settings_dict
    before = settings_dict["ATOMIC_REQUESTS"]
    settings_dict["ATOMIC_REQUESTS"] = True
    yield
    settings_dict["ATOMIC_REQUESTS"] = before


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's database-wide write lock")
def test_no_transaction_while_wechat_answers_the_notifications_fetch_on_sqlite(desk, atomic_requests):
    cid = desk.seed_complaint()["complaint_id"]
    future = _start_held_notification(desk, cid)

    def write():
        connection.ensure_connection()
        connection.connection.execute("PRAGMA busy_timeout = 200")  # a lock held now is the failure
        return User.objects.create_user("second-writer").pk

    try:
        written = in_thread(write).result(timeout=60)
        still_held = not Complaint.objects.exists()
    finally:
        response = future.result(timeout=60)
    assert written and still_held
    assert response.status_code == 204
    assert Notification.objects.get().state == Notification.State.HANDLED


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_stat_activity is PostgreSQL's")
def test_no_session_idle_in_transaction_while_wechat_answers_the_notifications_fetch(desk, atomic_requests):
    cid = desk.seed_complaint()["complaint_id"]
    future = _start_held_notification(desk, cid)

    try:
        idle = in_thread(idle_in_transaction_sessions).result(timeout=60)
        still_held = not Complaint.objects.exists()
    finally:
        response = future.result(timeout=60)
    assert idle == [] and still_held
    assert response.status_code == 204
