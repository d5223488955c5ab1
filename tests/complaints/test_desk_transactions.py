"""With ``ATOMIC_REQUESTS = True`` no transaction is open while WeChat Pay answers a desk call.

The desk's screens are ``non_atomic_requests``. These tests turn ``ATOMIC_REQUESTS``
on, hold a reply at the sandbox (its ``delay`` fault) and meanwhile look at the
database from another connection: on SQLite a second writer gets its write
through; on PostgreSQL no session is ``idle in transaction``. Both fail when the
views run in the request's transaction again (checked by removing the decorator).
A reply WeChat Pay accepted is recorded and reported as sent even when storing
the complaint afterwards fails.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection, connections
from django.urls import reverse

from django_wxpay_media.complaints import services
from django_wxpay_media.complaints.models import Complaint, Reply
from django_wxpay_media.wechatpay import complaints as wc
from tests.grants import sees_every_merchant
from tests.helpers import idle_in_transaction_sessions, in_thread

from .helpers import with_form_token

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root")]

HOLD_SECONDS = 4.0  # how long the sandbox holds the reply request


@pytest.fixture
def atomic_requests(monkeypatch):
    """``ATOMIC_REQUESTS = True`` for every connection opened during the test (threads included)."""
    monkeypatch.setitem(connections.settings["default"], "ATOMIC_REQUESTS", True)
    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)


@pytest.fixture
def agent_client(client, db):
    user = User.objects.create_user("agent", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="wxpay_complaints"))
    sees_every_merchant(user)
    client.force_login(user)
    return client


def reply_path(cid: str) -> str:
    return f"/v3/merchant-service/complaints-v2/{cid}/response"


def post_held_reply(client, desk, complaint: Complaint) -> Future:
    """POST a reply in another thread; returns once the sandbox is holding its request."""
    url = reverse("admin:wxpay_complaints_complaint_reply", args=[complaint.pk])
    data = with_form_token(client, url, {"content": "您好，正在处理。"})
    desk.add_fault("delay", path=reply_path(complaint.complaint_id), seconds=HOLD_SECONDS)
    future = in_thread(lambda: client.post(url, data))
    arrived = threading.Event()
    for _ in range(1200):  # a deadline for a hang, not a timing assertion
        if not desk.pending_faults or future.done():
            arrived.set()
            break
        arrived.wait(0.05)
    assert not future.done(), future.result()
    assert arrived.is_set(), "the reply never reached the sandbox"
    return future


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's database-wide write lock")
def test_a_held_reply_does_not_block_a_second_writer_on_sqlite(agent_client, desk, atomic_requests):
    complaint = services.refresh(desk.seed_complaint(images=0)["complaint_id"]).complaint
    assert complaint is not None
    future = post_held_reply(agent_client, desk, complaint)

    def write():
        connection.ensure_connection()
        # Give up at once rather than after SQLite's 5 s: a lock held now is the failure.
        connection.connection.execute("PRAGMA busy_timeout = 200")
        return User.objects.create_user("second-writer").pk

    try:
        written = in_thread(write).result(timeout=60)
        still_held = desk.complaint_replies(complaint.complaint_id) == []
    finally:
        response = future.result(timeout=60)  # let the reply finish before the test's teardown
    assert written
    assert still_held  # the write happened while WeChat Pay was "answering"
    assert response.status_code == 302
    assert Reply.objects.get().state == Reply.State.SENT


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_stat_activity is PostgreSQL's")
def test_no_session_is_idle_in_transaction_while_a_reply_is_held(agent_client, desk, atomic_requests):
    complaint = services.refresh(desk.seed_complaint(images=0)["complaint_id"]).complaint
    assert complaint is not None
    future = post_held_reply(agent_client, desk, complaint)

    try:
        idle = in_thread(idle_in_transaction_sessions).result(timeout=60)
        still_held = desk.complaint_replies(complaint.complaint_id) == []
    finally:
        response = future.result(timeout=60)
    assert idle == []
    assert still_held
    assert response.status_code == 302
    assert Reply.objects.get().state == Reply.State.SENT


def test_a_reply_wechat_accepted_is_recorded_though_storing_the_complaint_fails(agent_client, desk, atomic_requests):
    # WeChat's detail now says something the database refuses (a negative amount breaks a CHECK).
    seeded = desk.seed_complaint(images=0, amount=-1)
    orders = [{**order, "amount": 1000} for order in seeded["complaint_order_info"]]
    stored = {**seeded, "complaint_order_info": orders, "apply_refund_amount": 1000}
    complaint = services.store(wc.Complaint.from_json(stored))
    url = reverse("admin:wxpay_complaints_complaint_reply", args=[complaint.pk])
    data = with_form_token(agent_client, url, {"content": "已为您补发。"})
    response = agent_client.post(url, data, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain == [(reverse("admin:wxpay_complaints_complaint_change", args=[complaint.pk]), 302)]
    page = response.content.decode()
    assert "The reply was sent to the consumer." in page and "could not be updated on this site" in page
    assert len(desk.complaint_replies(complaint.complaint_id)) == 1
    reply = Reply.objects.get()
    assert reply.state == Reply.State.SENT and reply.request_id


def test_every_desk_screen_is_outside_atomic_requests():
    # The resolved view functions carry the mark Django's handler reads.
    from django.urls import resolve

    complaint_pk, image_pk = 1, 1
    for name, args in [
        ("reply", [complaint_pk]),
        ("complete", [complaint_pk]),
        ("refund", [complaint_pk]),
        ("instant", [complaint_pk]),
        ("refresh", [complaint_pk]),
        ("resend", [complaint_pk, 1]),
        ("image", [image_pk]),
    ]:
        match = resolve(reverse(f"admin:wxpay_complaints_complaint_{name}", args=args))
        assert "default" in getattr(match.func, "_non_atomic_requests", set()), name
