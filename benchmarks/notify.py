"""Notifications answered at once (issue 18): ``python -m benchmarks.notify``.

A throwaway project (``django_env``) served by Django's threaded WSGI server on a
local port, the sandbox in a child process. 200 signed new-complaint notifications
are POSTed 20 at a time and each answer is timed at the sender:

* with ``BACKGROUND_NOTIFICATIONS`` on a task backend that only enqueues (the
  dummy backend of ``django_tasks``: the refresh never runs, as when the worker
  is busy), p50 and p99 against the 50 ms target;
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


def _serve() -> tuple[Any, int]:
    """Django's threaded WSGI server on a free local port, in a daemon thread."""
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadedWSGIServer):
        # socketserver listens with a backlog of 5 (Django's: 10): 20 connections at once
        # overflow it and the kernel retries the SYN after 1 s. A production server listens deeper.
        request_queue_size = 128

    server = Server(("127.0.0.1", 0), Quiet, allow_reuse_address=False)
    server.daemon_threads = True
    server.set_app(get_wsgi_application())
    threading.Thread(target=server.serve_forever, name="wxpay-bench-server", daemon=True).start()
    return server, server.server_address[1]


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


def run(sandbox: SandboxProcess, count: int, at_once: int) -> tuple[list[Any], list[str]]:
    """The rows (:class:`benchmarks.run.Row`) and notes of both passes."""
    from django.conf import settings
    from django.test import override_settings

    from benchmarks.run import Row
    from django_wxpay_media.complaints.models import Complaint, Notification

    server, port = _serve()
    rows: list[Any] = []
    notes: list[str] = []
    try:
        ids = sandbox.seed_complaints(count)
        _send_all(port, sandbox.notifications(ids[:at_once]), at_once)  # warm: imports, connections
        Notification.objects.all().delete()
        signed = sandbox.notifications(ids)
        sandbox.reset()
        times = _send_all(port, signed, at_once)
        # Each server thread has its own backend instance: count what waits, and what was called.
        queued = Notification.objects.filter(state=Notification.State.RECEIVED).count()
        calls = len(sandbox.request_paths())
        p50, p99 = statistics.median(times), _percentile(times, 0.99)
        # The same, one at a time: what one answer costs the server, without queueing behind 19 others.
        Notification.objects.all().delete()
        alone = _send_all(port, sandbox.notifications(ids), 1)
        rows.append(
            Row("notify: answer p50, 1 at a time", f"{statistics.median(alone) * 1000:.1f} ms", "", "reference")
        )
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
        notes.append(
            f"notifications: {count} signed new-complaint notifications, {at_once} at a time, to Django's threaded "
            f"WSGI server on 127.0.0.1 ({settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}); "
            f"timed at the sender, connect to last byte; {queued} refreshes enqueued on the dummy task backend, "
            f"none run, {calls} calls to WeChat Pay; max {max(times) * 1000:.1f} ms"
        )
        if queued != count or calls or Complaint.objects.exists():
            raise RuntimeError(f"expected {count} enqueued refreshes and no call, got {queued} and {calls} calls")
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
        server.shutdown()
        server.server_close()
    return rows, notes


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.notify [--db postgres]``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.notify")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--at-once", type=int, default=20)
    parser.add_argument("--db", default="postgres", choices=django_env.DATABASES)
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
                INSTALLED_APPS=backport,
                TASKS={"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}},
            )
            from benchmarks.run import print_table

            rows, notes = run(sandbox, args.count, args.at_once)
            print_table(f"notification benchmark: {args.count}, {args.at_once} at a time, {args.db}", rows, notes)
    finally:
        django_env.drop_databases()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
