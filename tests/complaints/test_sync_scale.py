"""The sync at scale: CONCURRENCY calls at a time, one 429 pausing every worker, nothing fetched twice,
a bounded number of queries. Behaviours only; speed is measured in ``benchmarks/``."""

from __future__ import annotations

import datetime as dt
import threading
import weakref

import pytest

from django_wxpay_media.complaints import services
from django_wxpay_media.complaints.models import Complaint, HistoryEntry

LIST = "/v3/merchant-service/complaints-v2"


def history_path(complaint_id: str) -> str:
    return f"{LIST}/{complaint_id}/negotiation-historys"


def paths(desk) -> list[str]:
    return [request.path.split("?", 1)[0] for request in desk.requests]


@pytest.fixture
def concurrency(desk, settings):
    def set_to(workers: int) -> None:
        settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "CONCURRENCY": workers}

    return set_to


@pytest.mark.django_db(transaction=True)
def test_the_history_calls_run_concurrency_at_a_time_and_never_more(desk, concurrency):
    concurrency(2)
    ids = [desk.seed_complaint(images=0)["complaint_id"] for _ in range(6)]
    lock = threading.Lock()
    crowd = threading.Condition(lock)
    state = {"now": 0, "peak": 0}

    def hold(request):
        # Each history request waits until one more than CONCURRENCY is on the wire (a breach,
        # seen at once) or a short deadline passes (only bounds the test, never asserted).
        if not request.path.split("?")[0].endswith("/negotiation-historys"):
            return
        with crowd:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
            crowd.notify_all()
            crowd.wait_for(lambda: state["now"] > 2, timeout=0.3)
            state["now"] -= 1

    desk.on_request = hold
    try:
        result = services.sync(1)
    finally:
        desk.on_request = None
    assert result.ok and sorted(c.complaint_id for c in result.synced) == sorted(ids)
    assert state["peak"] == 2  # CONCURRENCY reached, never exceeded


@pytest.mark.django_db(transaction=True)
def test_a_429_during_sync_pauses_every_worker(desk, concurrency):
    concurrency(3)
    ids = [desk.seed_complaint(images=0)["complaint_id"] for _ in range(6)]
    newest = max(ids, key=lambda cid: (desk.complaints[cid]["complaint_time"], cid))  # listed first
    desk.add_fault(
        "status",
        status=429,
        code="FREQUENCY_LIMITED",
        message="slow down",
        headers={"Retry-After": "1"},
        path=history_path(newest),
    )
    result = services.sync(1)
    assert result.ok and len(result.synced) == len(ids)
    limited = [r for r in desk.requests if r.response_status == 429]
    assert len(limited) == 1
    # Nothing reached WeChat Pay during the pause from any worker: the requests already on their
    # way when the 429 was answered arrive within moments; without the shared pause the other
    # workers would go on sending their next calls at once.
    on_the_way = limited[0].received_at + dt.timedelta(seconds=0.1)
    pause_ends = limited[0].received_at + dt.timedelta(seconds=0.9)
    during = [r.path for r in desk.requests if on_the_way < r.received_at < pause_ends]
    assert during == []
    assert any(r.received_at >= pause_ends for r in desk.requests)


@pytest.mark.django_db(transaction=True)
def test_a_complaint_whose_history_fails_is_reported_and_the_others_stored(desk, concurrency):
    concurrency(3)
    ids = [desk.seed_complaint(images=0)["complaint_id"] for _ in range(5)]
    desk.add_fault("status", status=400, code="PARAM_ERROR", message="no", path=history_path(ids[2]))
    result = services.sync(1)
    assert [cid for cid, _ in result.failed] == [ids[2]]
    assert result.failed[0][1].code == "PARAM_ERROR"
    assert sorted(c.complaint_id for c in result.synced) == sorted(set(ids) - {ids[2]})
    # Not stored, so not skipped next time: the next sync fetches it.
    assert not Complaint.objects.filter(complaint_id=ids[2]).exists()
    desk.reset()
    again = services.sync(1)
    assert again.ok and paths(desk).count(history_path(ids[2])) == 1


@pytest.mark.django_db
def test_a_second_sync_with_nothing_changed_makes_only_the_list_calls(desk):
    ids = [desk.seed_complaint(images=1)["complaint_id"] for _ in range(3)]
    assert services.sync(1).ok
    desk.reset()
    again = services.sync(1)
    assert again.ok and sorted(c.complaint_id for c in again.synced) == sorted(ids)
    assert set(paths(desk)) == {LIST}


def history_calls(desk) -> list[str]:
    return [r.path for r in desk.requests if r.path.split("?")[0].endswith("/negotiation-historys")]


@pytest.mark.django_db
def test_after_the_consumer_writes_only_that_history_is_read_from_the_last_stored_entry(desk):
    ids = [desk.seed_complaint(images=0)["complaint_id"] for _ in range(3)]
    desk.consumer_writes(ids[1], "第一次")
    assert services.sync(1).ok
    assert services.send_reply(Complaint.objects.get(complaint_id=ids[1]), "我们正在处理。").ok
    assert HistoryEntry.objects.filter(complaint__complaint_id=ids[1]).count() == 3
    desk.reset()
    desk.consumer_writes(ids[1], "第二次")  # the list entry changes: incoming_user_response
    assert services.sync(1).ok
    [history] = history_calls(desk)
    assert history.startswith(history_path(ids[1]))
    assert "offset=2" in history  # the last stored entry read again, not the whole history
    steps = HistoryEntry.objects.filter(complaint__complaint_id=ids[1]).values_list("operate_details", flat=True)
    assert "第二次" in set(steps) and len(steps) == 4


@pytest.mark.django_db
def test_a_history_that_is_not_append_only_is_read_whole(desk):
    cid = desk.seed_complaint(images=0)["complaint_id"]
    desk.consumer_writes(cid, "一")
    assert services.sync(1).ok
    # The stored steps no longer match WeChat's: the entry at the resumed offset is unknown.
    for n, step in enumerate(HistoryEntry.objects.filter(complaint__complaint_id=cid)):
        HistoryEntry.objects.filter(pk=step.pk).update(log_id=f"gone{n}")
    desk.reset()
    complaint = Complaint.objects.get(complaint_id=cid)
    assert services.send_reply(complaint, "我们正在处理。").ok  # its refresh reads the new history
    assert ["offset=1" in p for p in history_calls(desk)] == [True, False]
    assert "offset=0" in history_calls(desk)[1]
    assert HistoryEntry.objects.filter(complaint=complaint).count() == 2 + 3  # "gone0", "gone1" + WeChat's three


def complaint_writes(queries) -> list[str]:
    """The statements that write a complaint, its images or its history (not its alerts)."""
    tables = ("wxpay_complaints_complaint", "wxpay_complaints_complaintimage", "wxpay_complaints_historyentry")
    writes = []
    for query in queries:
        sql = query["sql"]
        verb = sql.split(None, 1)[0].upper()
        head = sql.split("(", 1)[0].replace("`", '"')  # MariaDB quotes names with backticks
        if verb in {"INSERT", "UPDATE", "DELETE"} and any(f'"{table}"' in head for table in tables):
            writes.append(sql)
    return writes


@pytest.mark.django_db
def test_writes_per_complaint_are_bounded(desk, django_assert_max_num_queries, django_assert_num_queries):
    for n in range(4):
        desk.seed_complaint(images=2, extra={"incoming_user_response": n % 2 == 0})
    # The new complaints are written a page at a time: their rows, images and history are 3 INSERTs
    # for the page (see test_sync_pages); its arrival alert (see .alerts) takes up to 7 more each,
    # and "the consumer wrote again" up to 6; +1 for the page's lookup.
    with django_assert_max_num_queries(4 * 17 + 1) as captured:
        assert services.sync(1).ok
    assert len(complaint_writes(captured.captured_queries)) == 3
    with django_assert_num_queries(1):  # unchanged: one query for the whole page, nothing written
        assert services.sync(1).ok


@pytest.mark.django_db
def test_a_sync_with_on_synced_passes_each_complaint_on_and_keeps_only_counts(desk):
    ids = [desk.seed_complaint(images=0)["complaint_id"] for _ in range(3)]
    seen: list[tuple[str, str]] = []
    result = services.sync(1, on_synced=lambda c: seen.append((c.complaint_id, c.state)))
    assert result.ok and result.count == 3 and result.synced == []  # not kept: the command prints them
    assert sorted(cid for cid, _ in seen) == sorted(ids)
    seen.clear()
    again = services.sync(1, on_synced=lambda c: seen.append((c.complaint_id, c.state)))  # unchanged ones too
    assert again.count == 3 and again.synced == [] and sorted(cid for cid, _ in seen) == sorted(ids)


@pytest.mark.django_db
def test_a_syncs_arrival_alerts_are_sent_a_page_at_a_time(desk, concurrency, django_assert_max_num_queries, mailoutbox):
    from django.contrib.auth.models import Permission, User

    from django_wxpay_media.complaints.models import Alert
    from tests.grants import grant, sees_every_merchant

    concurrency(1)  # one connection: every query is counted
    lead = sees_every_merchant(User.objects.create_user("lead", email="lead@example.com", is_staff=True))
    agent = User.objects.create_user("agent", email="agent@example.com", is_staff=True)
    grant("1900000002", user=agent)  # a merchant none of these complaints is about
    for user in (lead, agent):
        user.user_permissions.add(Permission.objects.get(codename="reply_complaint"))
    for _ in range(20):
        desk.seed_complaint(images=0)
    # The page (no images): rows and history are 2 INSERTs in a savepoint (2 more), not 4 per complaint;
    # the alerts of the whole page take a few queries (~20 with the recipients' permissions), not ~7 each.
    with django_assert_max_num_queries(1 + 4 + 20):
        assert services.sync(1).ok
    assert Alert.objects.filter(kind=Alert.Kind.ARRIVED, sent_at__isnull=False).count() == 20
    assert sorted(m.to[0] for m in mailoutbox) == ["lead@example.com"] * 20  # scoped: not the agent
    assert all(r == ["lead@example.com"] for r in Alert.objects.values_list("recipients", flat=True))
    mailoutbox.clear()
    desk.reset()
    for cid in list(desk.complaints)[:2]:
        desk.consumer_writes(cid)
    assert services.sync(1).ok
    assert Alert.objects.filter(kind=Alert.Kind.ARRIVED).count() == 20  # each arrival once


@pytest.mark.django_db
def test_the_sync_lets_a_list_page_go_before_reading_the_next():
    """``to_fetch`` looks a page up at once, lets each entry go as it yields it, and calls
    ``between_pages`` (the sync's page write) before the next page is read."""
    from django_wxpay_media.complaints import syncing
    from django_wxpay_media.wechatpay import complaints as wc

    refs = []
    alive_when_reading_on = []
    events = []

    def pages():
        for number in range(3):
            if number:
                alive_when_reading_on.append(sum(ref() is not None for ref in refs))
                events.append("read")
            size = syncing.PAGE if number < 2 else 10
            page = tuple(
                wc.Complaint.from_json({"complaint_id": f"2002{number:03d}{n:020d}", "complaint_state": "PENDING"})
                for n in range(size)
            )
            refs.extend(weakref.ref(detail) for detail in page)
            yield page
            del page

    fetching = syncing.to_fetch(pages(), lambda row: None, lambda: events.append("write"))
    taken = 0
    for _ in range(1000):
        try:
            next(fetching)  # dropped at once, as a worker that stored it would
        except StopIteration:
            break
        taken += 1
    assert taken == 2 * syncing.PAGE + 10
    assert alive_when_reading_on == [0, 0]
    assert events == ["write", "read", "write", "read", "write"]


@pytest.mark.django_db(transaction=True)
def test_a_sync_holds_one_page_of_answers_and_those_under_way(desk, settings):
    """Counted, not timed: the list entries alive at once during a sync of three pages are one
    page, plus at most the entries of the page before still with the workers (each worker's
    item and the runner's queue): never two pages, as when a page's write overlapped the next
    page's reading."""
    from django_wxpay_media.complaints import syncing
    from django_wxpay_media.services import batches
    from django_wxpay_media.wechatpay import complaints as wc

    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "CONCURRENCY": 2}
    for _ in range(2 * syncing.PAGE + 20):
        desk.seed_complaint(images=0)
    lock = threading.Lock()
    alive = {"now": 0, "peak": 0}

    def died() -> None:
        with lock:
            alive["now"] -= 1

    parse = wc.Complaint.from_json.__func__

    def counted(cls, data, **kwargs):
        answer = parse(cls, data, **kwargs)
        with lock:
            alive["now"] += 1
            alive["peak"] = max(alive["peak"], alive["now"])
        weakref.finalize(answer, died)
        return answer

    wc.Complaint.from_json = classmethod(counted)
    try:
        result = services.sync(1, on_synced=lambda complaint: None)
    finally:
        wc.Complaint.from_json = classmethod(parse)
    assert result.ok and result.count == 2 * syncing.PAGE + 20
    threads = 2 + batches._PREPARE_AHEAD
    assert alive["peak"] <= syncing.PAGE + 2 * threads + 1
