"""Notifications answered at once (issue 18): ``python -m benchmarks.notify``.

A throwaway project (``django_env``) served on a local port the way a site serves
Django (worker threads that keep their database connections: ``--threads``), the sandbox in a child
process. 200 signed new-complaint notifications are POSTed 20 at a time and each
answer is timed at the sender:

* with ``BACKGROUND_NOTIFICATIONS`` on a task backend that only enqueues (the
  dummy backend of ``django_tasks``: the refresh never runs, as when the worker
  is busy), p50 and p99 against the 50 ms target; the same on Django's development
  server (a thread and a new database connection per request), for reference;
* without tasks, the calls to WeChat Pay per notification: a new complaint, then
  the same complaints notified again with nothing changed.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import shutil
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from importlib.util import find_spec
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import django_env  # noqa: E402
from benchmarks.sandbox_process import SandboxProcess  # noqa: E402

PATH = "/wxpay/complaints/notify/"
TARGET_P99 = 0.050
#: The server's worker threads (one process).
THREADS = 4


def _quiet_handler() -> Any:
    """Django's request handler without a log line per request (both servers use it)."""
    from django.core.servers.basehttp import WSGIRequestHandler

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Quiet


class _Server:
    """A WSGI server on a free local port, shaped as a site serves Django: ``threads`` worker
    threads that keep their database connections (``CONN_MAX_AGE``), as gunicorn's threaded
    workers do (one worker process here).

    Django's development server instead starts a thread per connection, and each opens and
    closes a database connection of its own: a cost of the development server, not of the
    view (measured too, as the reference row).
    """

    def __init__(self, threads: int) -> None:
        from django.core.servers.basehttp import WSGIServer
        from django.core.wsgi import get_wsgi_application

        class Pooled(WSGIServer):
            # socketserver listens with a backlog of 5: 20 connections at once would overflow it
            # and the kernel retries the SYN after 1 s. A production server listens deeper.
            request_queue_size = 128
            pool = ThreadPoolExecutor(threads, thread_name_prefix="wxpay-bench-worker")

            def process_request(self, request: Any, client_address: Any) -> None:
                self.pool.submit(self.work, request, client_address)

            def work(self, request: Any, client_address: Any) -> None:
                try:
                    self.finish_request(request, client_address)
                except Exception:  # noqa: BLE001 - as socketserver does
                    self.handle_error(request, client_address)
                finally:
                    self.shutdown_request(request)

        self.server = Pooled(("127.0.0.1", 0), _quiet_handler(), allow_reuse_address=False)
        self.server.set_app(get_wsgi_application())
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, name="wxpay-bench-server", daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.server.pool.shutdown(wait=True)


def _post(port: int, signed: tuple[dict[str, str], bytes]) -> tuple[float, int]:
    """POST one notification on a new connection; (seconds to the answer, status)."""
    headers, body = signed
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        start = time.perf_counter()
        connection.request("POST", PATH, body=body, headers={**headers, "Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return time.perf_counter() - start, response.status
    finally:
        connection.close()


def _send_all(port: int, notifications: list[tuple[dict[str, str], bytes]], at_once: int) -> list[float]:
    """Send them ``at_once`` at a time from a child process (WeChat's side does not share our GIL)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as sender:
        return sender.submit(_send_here, port, notifications, at_once).result()


def _send_here(port: int, notifications: list[tuple[dict[str, str], bytes]], at_once: int) -> list[float]:
    with ThreadPoolExecutor(at_once) as pool:
        answers = list(pool.map(lambda signed: _post(port, signed), notifications))
    wrong = [status for _, status in answers if status != 204]
    if wrong:
        raise RuntimeError(f"{len(wrong)} notifications were not answered 204: {sorted(set(wrong))}")
    return [seconds for seconds, _ in answers]


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _dev_server() -> tuple[Any, int]:
    """Django's development server (a thread and a database connection per request), for reference."""
    from django.core.servers.basehttp import ThreadedWSGIServer
    from django.core.wsgi import get_wsgi_application

    class Server(ThreadedWSGIServer):
        request_queue_size = 128  # as _Server's

    server = Server(("127.0.0.1", 0), _quiet_handler(), allow_reuse_address=False)
    server.daemon_threads = True
    server.set_app(get_wsgi_application())
    threading.Thread(target=server.serve_forever, name="wxpay-bench-devserver", daemon=True).start()
    return server, server.server_address[1]


def run(sandbox: SandboxProcess, count: int, at_once: int, threads: int = THREADS) -> tuple[list[Any], list[str]]:
    """The rows (:class:`benchmarks.run.Row`) and notes of every pass."""
    from django.conf import settings
    from django.db import connection
    from django.test import override_settings

    from benchmarks.run import Row
    from django_wxpay_media.complaints.models import Complaint, Notification

    rows: list[Any] = []
    notes: list[str] = []
    ids = sandbox.seed_complaints(count)

    def queued_pass(port: int, at_once: int) -> list[float]:
        Notification.objects.all().delete()
        _send_all(port, sandbox.notifications(ids[:at_once]), at_once)  # warm: imports, connections
        Notification.objects.all().delete()
        signed = sandbox.notifications(ids)
        sandbox.reset()
        times = _send_all(port, signed, at_once)
        # Each server process has its own task backend: count what waits, and what was called.
        queued = Notification.objects.filter(state=Notification.State.RECEIVED).count()
        calls = len(sandbox.request_paths())
        if queued != count or calls or Complaint.objects.exists():
            raise RuntimeError(f"expected {count} enqueued refreshes and no call, got {queued} and {calls} calls")
        return times

    dev, dev_port = _dev_server()
    try:
        dev_times = queued_pass(dev_port, at_once)
    finally:
        dev.shutdown()
        dev.server_close()
    server = _Server(threads)
    try:
        times = queued_pass(server.port, at_once)
        alone = queued_pass(server.port, 1)  # what one answer costs, without queueing behind others
    finally:
        server.close()
    p50, p99 = statistics.median(times), _percentile(times, 0.99)
    shape = f"{threads} worker threads keeping their database connections"
    rows.append(Row("notify: answer p50, 1 at a time", f"{statistics.median(alone) * 1000:.1f} ms", "", "reference"))
    rows.append(Row("notify: p99, tasks, dev server", f"{_percentile(dev_times, 0.99) * 1000:.1f} ms", "", "reference"))
    rows.append(Row("notify: answer p50, tasks on", f"{p50 * 1000:.1f} ms", "", "reference"))
    rows.append(
        Row(
            "notify: answer p99, tasks on",
            f"{p99 * 1000:.1f} ms",
            f"{p99 / TARGET_P99:.2f}x",
            "<= 50 ms",
            p99 <= TARGET_P99,
        )
    )
    database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    notes.append(
        f"notifications: {count} signed new-complaint notifications, {at_once} at a time, to a local WSGI server "
        f"({shape}, as gunicorn's threaded workers serve a site; {database}); timed at the sender, connect to last "
        f"byte; each refresh enqueued on the dummy task backend, none run, no call to WeChat Pay; "
        f"max {max(times) * 1000:.1f} ms. The same on Django's development server (a thread and a new database "
        f"connection per request): p50 {statistics.median(dev_times) * 1000:.1f} ms, "
        f"p99 {_percentile(dev_times, 0.99) * 1000:.1f} ms"
    )
    if connection.vendor == "sqlite":
        # Twenty refreshes writing at once: SQLite refuses writers ("database is locked"); each
        # such notification is answered 500 and WeChat Pay sends it again. Not a figure to print.
        notes.append("notifications without tasks: not run on SQLite (concurrent writers are refused); see --db")
        return rows, notes
    server = _Server(threads)
    port = server.port
    try:
        # Without tasks: the refresh runs in the request.
        Notification.objects.all().delete()
        inline = {**settings.WXPAY_MEDIA, "BACKGROUND_NOTIFICATIONS": False}
        with override_settings(WXPAY_MEDIA=inline):
            for label, what in (("new complaint", "new"), ("nothing changed", "unchanged")):
                signed = sandbox.notifications(ids)
                sandbox.reset()
                times = _send_all(port, signed, at_once)
                paths = sandbox.request_paths()
                history = sum("/negotiation-historys" in p for p in paths)
                per = len(paths) / count
                target = 2.0 if what == "new" else 1.0
                rows.append(
                    Row(
                        f"notify: calls per notif., {label}",
                        f"{per:.2f} ({history} hist.)",
                        f"{per / target:.2f}x",
                        "<= 1 refresh" if what == "new" else "detail only",
                        per <= target and (what == "new" or history == 0),
                    )
                )
                notes.append(
                    f"notifications without tasks, {label}: {len(paths)} calls to WeChat Pay for {count} "
                    f"({history} history reads); p50 {statistics.median(times) * 1000:.1f} ms, "
                    f"p99 {_percentile(times, 0.99) * 1000:.1f} ms (a refresh in the request)"
                )
    finally:
        server.close()
    return rows, notes


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.notify [--db postgres]``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.notify")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--at-once", type=int, default=20)
    parser.add_argument("--db", default="postgres", choices=django_env.DATABASES)
    parser.add_argument("--threads", type=int, default=THREADS, help="worker threads per server process")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="wxpay-notify-bench-"))
    # Django 6 has django.tasks built in; on 5.2 the backport is an app of its own.
    backport = [] if find_spec("django.tasks") is not None else ["django_tasks"]
    try:
        with SandboxProcess() as sandbox:
            django_env.configure(
                workdir,
                {**sandbox.settings, "BACKGROUND_NOTIFICATIONS": True},
                args.db,
                conn_max_age=60,  # as a site serves: each worker thread keeps its connection
                INSTALLED_APPS=backport,
                TASKS={"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}},
            )
            from benchmarks.run import print_table

            rows, notes = run(sandbox, args.count, args.at_once, args.threads)
            print_table(f"notification benchmark: {args.count}, {args.at_once} at a time, {args.db}", rows, notes)
    finally:
        django_env.drop_databases()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
