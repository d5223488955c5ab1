"""A sync writes its new complaints a page at a time (issue 18: at most 3 queries per new
complaint): rows, images and history one bulk INSERT each in one transaction. One complaint
the page cannot take (a value the database refuses, a row a notification stored meanwhile)
is settled alone; what was fetched before the list failed is still stored."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from django_wxpay_media.complaints import services, syncing
from django_wxpay_media.complaints.models import Alert, Complaint, ComplaintImage, HistoryEntry
from tests.complaints.test_notifications import post
from tests.complaints.test_sync_scale import complaint_writes
from tests.helpers import closing_connections

pytestmark = pytest.mark.django_db(transaction=True)  # real BEGIN/COMMIT, as in production

LIST = "/v3/merchant-service/complaints-v2"


@pytest.fixture
def one_thread(desk, settings):
    # One connection: every query is captured (a worker thread's go through its own).
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "CONCURRENCY": 1}
    return desk


def is_history(request) -> bool:
    return request.path.split("?", 1)[0].endswith("/negotiation-historys")


def test_a_new_complaint_takes_at_most_3_queries_begin_and_commit_included(one_thread):
    desk = one_thread
    count = 120  # two full pages and a part
    ids = [desk.seed_complaint(images=2)["complaint_id"] for _ in range(count)]
    for cid in ids[::3]:
        desk.consumer_writes(cid)
    with CaptureQueriesContext(connection) as captured:
        result = services.sync(1)
    assert result.ok and result.count == count
    assert len(captured.captured_queries) <= 3 * count
    pages = -(-count // syncing.PAGE)
    # Per page: one INSERT per table (SQLite's limit on parameters may split one in a few).
    assert len(complaint_writes(captured.captured_queries)) <= 3 * 3 * pages
    assert Complaint.objects.count() == count
    assert ComplaintImage.objects.count() == 2 * count
    wrote = set(ids[::3])  # their creation, and the consumer writing again
    steps = [HistoryEntry.objects.filter(complaint__complaint_id=cid).count() for cid in ids]
    assert steps == [2 if cid in wrote else 1 for cid in ids]
    assert Alert.objects.filter(kind=Alert.Kind.ARRIVED).count() == count
    with CaptureQueriesContext(connection) as captured:  # unchanged: one query per page
        assert services.sync(1).ok
    assert len(captured.captured_queries) == pages


def test_a_complaint_the_database_refuses_is_reported_alone_and_the_rest_of_its_page_stored(desk):
    ids = [desk.seed_complaint(images=1)["complaint_id"] for _ in range(6)]
    # A negative amount breaks the column's CHECK constraint: the page's INSERT fails as a whole.
    bad = desk.seed_complaint(images=1, extra={"apply_refund_amount": -1})["complaint_id"]
    result = services.sync(1)
    assert [cid for cid, _ in result.failed] == [bad]
    assert result.failed[0][1].code == "DATABASE_ERROR"
    assert sorted(c.complaint_id for c in result.synced) == sorted(ids)
    assert sorted(Complaint.objects.values_list("complaint_id", flat=True)) == sorted(ids)
    assert ComplaintImage.objects.count() == len(ids)
    assert HistoryEntry.objects.filter(complaint__complaint_id=bad).count() == 0
    assert Alert.objects.filter(kind=Alert.Kind.ARRIVED).count() == len(ids)


def test_a_complaint_a_notification_stored_meanwhile_is_kept_once_and_the_rest_of_its_page_stored(one_thread):
    desk = one_thread
    ids = [desk.seed_complaint(images=1)["complaint_id"] for _ in range(4)]
    fetched: list[str] = []

    @closing_connections
    def notify_meanwhile(request):
        # The sync has fetched the first complaint's history, not written it yet (a page at a
        # time); WeChat Pay's notification of that complaint is handled now, in another thread.
        if not is_history(request) or request.method != "GET":
            return
        fetched.append(request.path.split("/")[-2])
        if len(fetched) == 3:
            headers, body = desk.notification(fetched[0])
            assert post(Client(), headers, body).status_code == 204

    desk.on_request = notify_meanwhile
    try:
        result = services.sync(1)
    finally:
        desk.on_request = None
    first = fetched[0]
    assert result.ok and result.failed == []
    assert sorted(c.complaint_id for c in result.synced) == sorted(ids)
    assert Complaint.objects.filter(complaint_id=first).count() == 1
    assert sorted(Complaint.objects.values_list("complaint_id", flat=True)) == sorted(ids)
    for cid in ids:  # the notification's copy and the sync's: each entry once
        assert HistoryEntry.objects.filter(complaint__complaint_id=cid).count() == 1
        assert ComplaintImage.objects.filter(complaint__complaint_id=cid).count() == 1
    assert Alert.objects.filter(kind=Alert.Kind.ARRIVED).count() == len(ids)  # each arrival once


def test_a_sync_stopped_by_a_list_error_stores_what_it_fetched(one_thread):
    desk = one_thread
    # Newest first: 5 complaints stored already, then 50 new ones; the list's second page fails,
    # with 45 new ones fetched and waiting for a full page.
    known = [desk.seed_complaint(images=0)["complaint_id"] for _ in range(5)]
    assert all(services.refresh(cid).ok for cid in known)
    older = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    new = [desk.seed_complaint(images=0, complaint_time=older)["complaint_id"] for _ in range(50)]

    def fail_the_next_page(request):
        if request.path.split("?", 1)[0] == LIST and "offset=0" in request.path:
            desk.add_fault("status", status=400, code="PARAM_ERROR", message="no", path=LIST)

    desk.on_request = fail_the_next_page
    try:
        result = services.sync(1)
    finally:
        desk.on_request = None
    assert result.error is not None and result.error.code == "PARAM_ERROR"
    assert result.failed == []
    listed_first = set(new) - set(Complaint.objects.filter(complaint_id__in=new).values_list("complaint_id", flat=True))
    assert len(listed_first) == 5  # the second page's, never listed
    assert result.count == 50 and Complaint.objects.count() == 5 + 45
    assert set(known) <= set(Complaint.objects.values_list("complaint_id", flat=True))
    assert Alert.objects.filter(kind=Alert.Kind.ARRIVED).count() == 5 + 45


def test_where_the_database_returns_no_ids_from_a_bulk_insert_one_select_finds_them(one_thread, monkeypatch):
    desk = one_thread
    counts = {desk.seed_complaint(images=n)["complaint_id"]: n for n in (1, 2, 3)}
    # As on MySQL: Django's bulk INSERT gives the rows no ids there.
    monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", False)
    with CaptureQueriesContext(connection) as captured:
        assert services.sync(1).ok
    selects = [q["sql"].replace("`", '"') for q in captured.captured_queries]  # MariaDB quotes with backticks
    ids = 'SELECT "wxpay_complaints_complaint"."complaint_id"'  # (the page's lookup reads the id first)
    assert sum(sql.startswith(ids) for sql in selects) == 1  # the page's ids after its INSERT
    for cid, n in counts.items():  # each complaint's images and history are its own
        assert ComplaintImage.objects.filter(complaint__complaint_id=cid).count() == n
        assert HistoryEntry.objects.filter(complaint__complaint_id=cid).count() == 1
