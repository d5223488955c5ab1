"""The complaint desk's figures (issue 18): sync at network speed, nothing fetched twice,
writes per complaint, memory of a big sync, and the list at 100,000 complaints.

Called by :mod:`benchmarks.run` after the upload figures, in the same Django project
and against the same sandbox child; returns rows for the one table. The list figures
need PostgreSQL: ``python -m benchmarks.desk --list`` re-runs only them (after a merge
that changes the changelist) in a throwaway PostgreSQL database.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import shutil
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import django_env  # noqa: E402
from benchmarks.sandbox_process import SandboxProcess  # noqa: E402

LIST_PAGE = 50  # WeChat Pay's largest list page

#: (label, key) of the desk's rows, in order.
ROWS = [
    ("desk: sync N=200 (new)", "sync_200"),
    ("desk: sync N=200 again, unchanged", "resync_200"),
    ("desk: sync N=2000 (new)", "sync_2000"),
    ("desk: sync N=2000 again, unchanged", "resync_2000"),
    ("desk: calls of an unchanged sync", "resync_calls"),
    ("desk: calls after 1 consumer wrote", "changed_calls"),
    ("desk: queries per new complaint", "queries_new"),
    ("desk: complaint writes per new one", "writes_new"),
    ("desk: queries per unchanged one", "queries_unchanged"),
    ("desk: answers held at once, sync", "sync_answers"),
    ("desk: peak memory, sync of N/4, N", "sync_memory"),
    ("desk: changelist, generated rows", "list"),
    ("desk: change page, 300 history", "change_page"),
]


def _clear() -> None:
    from django_wxpay_media.complaints.models import Alert, Complaint

    Alert.objects.all().delete()
    Complaint.objects.all().delete()


def _ideal(count: int, latency: float, concurrency: int) -> float:
    pages = -(-count // LIST_PAGE) + 1  # the last page says "no more" only when it is short
    return pages * latency + count * latency / concurrency


def sync_rows(sandbox: SandboxProcess, row: Callable[..., Any], sizes: list[int], latency: float, concurrency: int):
    """Time a first and a second sync of each size in ``sizes``, every answer ``latency`` late."""
    from django.conf import settings
    from django.db import connection
    from django.test import override_settings
    from django.test.utils import CaptureQueriesContext

    from django_wxpay_media.complaints import services, syncing
    from django_wxpay_media.complaints.models import Complaint

    results: dict[str, Any] = {}
    notes: list[str] = []
    for count in sizes:
        _clear()
        sandbox.reset_complaints()
        ids = sandbox.seed_complaints(count)
        sandbox.reset()
        sandbox.add_fault("delay", count=100_000, seconds=latency, path=None)
        ideal = _ideal(count, latency, concurrency)
        start = time.perf_counter()
        first = services.sync(1)
        elapsed = time.perf_counter() - start
        if not first.ok or Complaint.objects.count() != count:
            raise RuntimeError(f"the sync stored {Complaint.objects.count()} of {count}: {first.failed[:1]}")
        results[f"sync_{count}"] = row(f"{elapsed:.2f} s", elapsed / ideal, 1.2)
        sandbox.reset()
        sandbox.add_fault("delay", count=100_000, seconds=latency, path=None)
        start = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            again = services.sync(1)
        elapsed = time.perf_counter() - start
        pages = -(-count // LIST_PAGE) + (1 if count % LIST_PAGE == 0 else 0)
        list_ideal = pages * latency
        results[f"resync_{count}"] = row(f"{elapsed:.2f} s", elapsed / list_ideal, 1.2)
        calls = sandbox.request_paths()
        history_calls = sum("/negotiation-historys" in p for p in calls)
        results["resync_calls"] = row(f"{len(calls)} ({history_calls} hist.)", None, None, "list calls only")
        results["resync_calls"].met = history_calls == 0
        results["queries_unchanged"] = row(
            f"{len(queries.captured_queries) / count:.3f}", len(queries.captured_queries) / count, 1.0, "<= 1"
        )
        if not again.ok:
            raise RuntimeError("the second sync failed")
        notes.append(
            f"sync N={count}: ideal {ideal:.2f} s (pages x latency + N x latency / CONCURRENCY); "
            f"unchanged: ideal {list_ideal:.2f} s ({pages} list pages)"
        )
        sandbox.clear_faults()
        # One consumer writes again: only that complaint's history is read.
        sandbox.consumer_writes(ids[0])
        sandbox.reset()
        services.sync(1)
        calls = sandbox.request_paths()
        history_calls = [p for p in calls if "/negotiation-historys" in p]
        results["changed_calls"] = row(f"{len(calls)} ({len(history_calls)} hist.)", None, None, "1 history call")
        results["changed_calls"].met = len(history_calls) == 1 and ids[0] in history_calls[0]
    # Queries per new complaint (a separate pass without latency: counting is not free), one
    # thread: a worker thread's queries go through its own connection, which is not captured.
    _clear()
    sandbox.reset_complaints()
    sandbox.seed_complaints(100)
    one_thread = {**settings.WXPAY_MEDIA, "CONCURRENCY": 1}
    with override_settings(WXPAY_MEDIA=one_thread), CaptureQueriesContext(connection) as queries:
        services.sync(1)
    per = len(queries.captured_queries) / 100
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].split(None, 1)[0].upper() in {"INSERT", "UPDATE"} and "wxpay_complaints_alert" not in q["sql"][:60]
    ]
    results["queries_new"] = row(f"{per:.2f}", per / 3, 1.0, "<= 3")
    results["writes_new"] = row(f"{len(writes) / 100:.2f}", len(writes) / 300, 1.0, "<= 3")
    notes.append(
        f"queries per new complaint: new complaints are written {syncing.PAGE} at a time, their rows, images and "
        "history one bulk INSERT each in one transaction (BEGIN and COMMIT counted; SQLite's limit on parameters "
        "splits an INSERT of many rows); arrival alerts are claimed, addressed and marked sent a page at a time "
        f"(alerts.offer_arrivals), and the page lookup is 1 per {syncing.PAGE}"
    )
    return results, notes


def memory_row(sandbox: SandboxProcess, row: Callable[..., Any], count: int) -> tuple[Any, Any, str]:
    """Peak traced memory of a sync of ``count`` (and of ``count // 4``) new complaints, against one page.

    A small sync runs first, untraced: what a first sync creates once (Django's SQL compiler
    and query caches, the translation catalogue, the client's keys, urllib's parse cache)
    is not a page of answers held. The yardstick is one list page as the sync reads it:
    the peak while it is fetched and parsed (answer bytes, JSON, parsed items), not only
    the parsed items left after.
    """
    from django_wxpay_media import conf
    from django_wxpay_media.complaints import services
    from django_wxpay_media.wechatpay import complaints as wc

    def seeded(n: int) -> None:
        _clear()
        sandbox.reset_complaints()
        sandbox.seed_complaints(n)
        sandbox.reset()

    seeded(LIST_PAGE + 10)
    services.sync(1, on_synced=lambda complaint: None)  # warm-up, not traced
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    page = wc.list_complaints(conf.get_client(), *wc.date_windows(1)[0], limit=LIST_PAGE)
    kept, fetching = (figure - base for figure in tracemalloc.get_traced_memory())
    del page
    tracemalloc.stop()
    peaks = {}
    for n in (count // 4, count):
        seeded(n)
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        # As ``wxpay_complaints sync`` runs it: each complaint passed on (the command prints a line), not kept.
        with _answers_alive() as alive:
            result = services.sync(1, on_synced=lambda complaint: None)
        peaks[n] = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        if result.count != n:
            raise RuntimeError(f"the sync synced {result.count} of {n}")
    held = row(f"{alive.peak} ({alive.peak / LIST_PAGE:.2f} pages)", alive.peak / LIST_PAGE, 1.0, "<= 1 page (50)")
    small, big = peaks[count // 4], peaks[count]
    ratio = big / fetching
    return (
        row(f"{small / 2**20:.1f}/{big / 2**20:.1f} MiB", ratio, None, "reference"),
        held,
        (
            f"memory: sync of {count // 4} / {count} new complaints after an untraced warm-up sync, each passed to "
            f"on_synced as the command does (not kept), peak traced above the start; the ratio is the {count} "
            f"sync's peak to one list page as fetched ({fetching / 2**10:.0f} KiB peak; {kept / 2**10:.0f} KiB of "
            f"parsed items left after it). The peak grew {(big - small) / (count - count // 4):.0f} B per complaint "
            f"from {count // 4} to {count}: each id stays for the whole sync (the list's repeat check, about 64 B). "
            f"Answers held at once: list entries parsed and not yet let go (counted by weak references): the page "
            f"being read, plus the entries of the page before still under way (with the workers and their queue)"
        ),
    )


class _Alive:
    """How many of WeChat Pay's complaint answers (parsed list entries) are alive, and the most at once."""

    def __init__(self) -> None:
        self.now = self.peak = 0
        self.lock = threading.Lock()

    def born(self, answer: Any) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        weakref.finalize(answer, self.died)

    def died(self) -> None:
        with self.lock:
            self.now -= 1


@contextlib.contextmanager
def _answers_alive() -> Iterator[_Alive]:
    """Count every ``wechatpay.complaints.Complaint`` parsed meanwhile until it is let go: the
    answers a sync holds at once, whatever else (compiler caches, threads) the traced peak holds."""
    from django_wxpay_media.wechatpay import complaints as wc

    alive = _Alive()
    parse = wc.Complaint.from_json.__func__  # type: ignore[attr-defined]

    def counted(cls: type, data: Any, **kwargs: Any) -> Any:
        answer = parse(cls, data, **kwargs)
        alive.born(answer)
        return answer

    wc.Complaint.from_json = classmethod(counted)  # type: ignore[method-assign,assignment]
    try:
        yield alive
    finally:
        wc.Complaint.from_json = classmethod(parse)  # type: ignore[method-assign,assignment]
        gc.collect()


# -- the list at scale ------------------------------------------------------------------------


def generate(count: int) -> None:
    """``count`` complaints of every state and flag, in bulk (a few seconds on PostgreSQL).

    Two in three were replied to (two hours after filing); every 7th consumer wrote after
    that, and every 7th + 3 an hour after filing (waiting only where nobody replied):
    the "wrote again" filter lists about a quarter of them, with ``incoming_user_response``.
    """
    from django.utils import timezone

    from django_wxpay_media.complaints.models import Complaint

    now = timezone.now()
    states = ["PENDING", "PROCESSING", "PROCESSED"]
    batch = []
    for n in range(count):
        filed = now - dt.timedelta(minutes=7 * n % (60 * 24 * 30))
        replied = filed + dt.timedelta(hours=2) if n % 3 else None
        wrote = {0: filed + dt.timedelta(hours=3), 3: filed + dt.timedelta(hours=1)}.get(n % 7)
        batch.append(
            Complaint(
                complaint_id=f"2002{n:023d}",
                state=states[n % 3],
                problem_type="REFUND",
                description="商品未收到",
                detail="付款后一直没有收到商品",
                complaint_time=filed,
                answered_at=replied,
                last_replied_at=replied,
                consumer_wrote_at=wrote,
                complainted_mchid="1900000001",
                out_trade_no=f"OUT{n}",
                transaction_id=f"4200{n:024d}",
                amount=1000 + n % 500,
                apply_refund_amount=1000,
                need_immediate_service=n % 17 == 0,
                incoming_user_response=n % 11 == 0,
                trusted_consumer=n % 13 == 0,
                user_complaint_times=1 + n % 3,
                raw={},
            )
        )
        if len(batch) == 5000:
            Complaint.objects.bulk_create(batch)
            batch = []
    Complaint.objects.bulk_create(batch)


def list_rows(row: Callable[..., Any], count: int) -> tuple[dict[str, Any], list[str]]:
    """The changelist, its filters and a complaint's change page through the test client, timed."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from django_wxpay_media.complaints.models import Complaint, HistoryEntry, Reply

    _clear()
    generate(count)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE")
    user_model = get_user_model()
    user = user_model.objects.filter(username="desk-bench").first() or user_model.objects.create_superuser(
        "desk-bench", "desk@example.com", "bench"
    )
    # Every 50th complaint is the bench user's: "assigned to me" lists 2% of them.
    mine = list(Complaint.objects.order_by("pk").values_list("pk", flat=True))[::50]
    Complaint.objects.filter(pk__in=mine).update(assignee=user)
    client = Client()
    client.force_login(user)
    base = "/admin/wxpay_complaints/complaint/"
    urls = {"changelist": base, **{q: base + "?" + q for q in _filters()}}
    worst: tuple[float, int, str] = (0.0, 0, "")
    notes = []
    results: dict[str, Any] = {}
    for name, url in urls.items():
        client.get(url)  # warm
        times, counts = [], []
        for _ in range(3):
            with CaptureQueriesContext(connection) as queries:
                start = time.perf_counter()
                response = client.get(url)
                times.append(time.perf_counter() - start)
            counts.append(len(queries.captured_queries))
            if response.status_code != 200:
                raise RuntimeError(f"{url} answered {response.status_code}")
        figure = (statistics.median(times), max(counts), name)
        results[f"list {name}"] = _list_row(row, figure[0], figure[1])
        worst = max(worst, figure)
    results["list counts"] = _counts_row(row, user)
    results["list"] = _list_row(row, worst[0], worst[1])
    notes.append(
        f"list: {count} generated complaints, median of 3 after a warm-up, server time through the test "
        f"client; the worst of the changelist and each filter: {worst[2]}; each page includes the counts"
    )
    # The change page of a complaint with 300 history entries and 4 replies.
    complaint = Complaint.objects.order_by("pk").first()
    assert complaint is not None
    now = timezone.now()
    HistoryEntry.objects.bulk_create(
        HistoryEntry(
            complaint=complaint,
            log_id=f"LOG{n}",
            operator="投诉人",
            operate_time=now - dt.timedelta(minutes=n),
            operate_type="USER_RESPONSE",
            operate_details="还在等",
            image_urls=[],
            raw={},
        )
        for n in range(300)
    )
    Reply.objects.bulk_create(Reply(complaint=complaint, content=f"回复 {n}") for n in range(4))
    url = f"{base}{complaint.pk}/change/"
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}")
    n = len(queries.captured_queries)
    results["change_page"] = row(f"{n} q {elapsed * 1000:.0f} ms", n / 12, 1.0, "<= 12 queries")
    return results, notes


def _list_row(row: Callable[..., Any], seconds: float, queries: int) -> Any:
    result = row(f"{seconds * 1000:.0f} ms {queries}q", seconds / 0.3, 1.0, "<=300 ms,10 q")
    result.met = seconds <= 0.3 and queries <= 10
    return result


def _counts_row(row: Callable[..., Any], user: Any) -> Any:
    """The desk's counts alone (the one ``desk_counts()`` query every list page runs)."""
    from django.contrib.admin import site
    from django.db import connection
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext

    from django_wxpay_media.complaints.models import Complaint

    request = RequestFactory().get("/admin/wxpay_complaints/complaint/")
    request.user = user
    model_admin = site._registry[Complaint]
    times = []
    for _ in range(4):
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            model_admin.desk_counts(request)
            times.append(time.perf_counter() - start)
    return _list_row(row, statistics.median(times[1:]), len(queries.captured_queries))


def _filters() -> list[str]:
    """The changelist's filters: each urgency, each flag, "assigned to me", a state, a sort."""
    from django_wxpay_media.complaints import deadlines, flags
    from django_wxpay_media.complaints.admin import changelist

    queries = ["state__exact=PENDING", "o=1"]
    queries += [f"{changelist.URGENCY}={value}" for value in deadlines.URGENCY_LABELS]
    queries += [f"{changelist.FLAG}={value}" for value in flags.LABELS]
    queries.append(f"{changelist.ASSIGNED}=me")
    return queries


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.desk --list``: only the list figures, on PostgreSQL."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.desk")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--db", default="postgres", choices=django_env.DATABASES)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="wxpay-desk-bench-"))
    try:
        with SandboxProcess() as sandbox:
            django_env.configure(workdir, sandbox.settings, args.db)
            from benchmarks.run import Row, print_table

            def row(value: str, ratio: float | None, target: float | None, text: str = "") -> Row:
                met = None if ratio is None or target is None else ratio <= target
                return Row("", value, f"{ratio:.2f}x" if ratio is not None else "", text or f"<= {target}x", met)

            results, notes = list_rows(row, args.rows)
            rows = []
            for key, result in results.items():
                if key.startswith("list "):
                    result.label = f"desk: {key}"
                    rows.append(result)
            for label, key in ROWS:
                if key in results:
                    results[key].label = label
                    rows.append(results[key])
            print_table(f"complaint list benchmark: {args.rows} rows, database {args.db}", rows, notes)
    finally:
        django_env.drop_databases()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
