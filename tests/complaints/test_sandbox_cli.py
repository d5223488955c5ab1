"""The sandbox's command line fills a site's desk: seeded complaints arrive through real notifications.

What a developer does in their own project: run the sandbox once to get settings,
paste them, run it again with the same keys and port, seeding complaints and
notifying the site's notification URL (here pytest-django's live server).
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.core.management import call_command

from django_wxpay_media.complaints.models import Complaint, Notification
from django_wxpay_media.sandbox.seeding import SEEDS
from tests.sandbox.test_cli import printed_settings, stop

ROOT = Path(__file__).resolve().parents[2]
#: How long the command may take before the test calls it hung (not a timing assertion).
PATIENCE = 60
NOTIFY_PATH = "/wxpay/complaints/notify/"

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sandbox_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "django_wxpay_media.sandbox", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
    )


def lines_until(proc: subprocess.Popen[str], count: int, prefixes: tuple[str, ...]) -> list[str]:
    """The first ``count`` stderr lines starting with one of ``prefixes`` (the process is killed when hung)."""
    assert proc.stderr is not None
    watchdog = threading.Timer(PATIENCE, proc.kill)
    watchdog.start()
    found: list[str] = []
    try:
        for line in proc.stderr:
            if line.startswith(prefixes):
                found.append(line.rstrip("\n"))
                if len(found) == count:
                    break
    finally:
        watchdog.cancel()
    assert len(found) == count, found
    return found


def test_the_cli_seeds_complaints_and_notifies_the_site(tmp_path, live_server, settings):
    keys, port = str(tmp_path / "keys"), str(free_port())
    first = sandbox_cli("--keys-dir", keys, "--port", port)
    try:
        settings.WXPAY_MEDIA = printed_settings(first)  # pasted into the site's settings
    finally:
        stop(first, signal.SIGTERM)
    count = len(SEEDS) + 2  # more than one round of the seeds
    url = f"{live_server.url}{NOTIFY_PATH}"

    second = sandbox_cli(
        "--keys-dir", keys, "--reuse-keys", "--port", port, "--seed-complaints", str(count), "--notify-url", url
    )
    try:
        seeded = lines_until(second, count, ("seeded complaint ",))
        notified = lines_until(second, count, ("notified ", "could not notify "))
        assert all(line.startswith(f"notified {url} of complaint ") for line in notified), notified
        assert all(line.endswith(": HTTP 204") for line in notified)
        ids = [line.split()[2].rstrip(":") for line in seeded]
        # Each was stored by the notification view, which fetched its detail from the sandbox.
        assert sorted(Complaint.objects.values_list("complaint_id", flat=True)) == sorted(ids)
        assert sorted(Notification.objects.values_list("complaint_id", flat=True)) == sorted(ids)
        stored = Complaint.objects.order_by("complaint_time")
        assert {c.problem_type for c in stored} == {"REFUND", "SERVICE_NOT_WORK", "OTHERS"}
        assert {c.state for c in stored} == {"PENDING", "PROCESSING", "PROCESSED"}
        assert all(c.images.count() >= 1 for c in stored)  # every complaint has pictures
        assert len({c.complaint_time for c in stored}) == count  # each its own age
        assert len({c.out_trade_no for c in stored}) == count

        # sync finds the same complaints and says over which dates.
        out, err = io.StringIO(), io.StringIO()
        call_command("wxpay_complaints", "sync", stdout=out, stderr=err)
        assert sorted(line.split("\t")[0] for line in out.getvalue().splitlines()) == sorted(ids)
        assert err.getvalue().startswith(f"Found {count} complaints from ")
    finally:
        assert stop(second, signal.SIGTERM) is not None
    assert second.returncode == 0


def test_notify_url_without_complaints_is_a_usage_error():
    result = subprocess.run(
        [sys.executable, "-m", "django_wxpay_media.sandbox", "--notify-url", "http://127.0.0.1:1/"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=PATIENCE,
        check=False,
    )
    assert result.returncode == 2
    assert "--notify-url needs --seed-complaints N" in result.stderr


def test_the_cli_plays_a_service_provider_with_sub_merchants(settings):
    subs = ["1900000101", "1900000102"]
    proc = sandbox_cli(
        "--port", "0", "--mchid", "1900000100", "--sub-merchants", ",".join(subs), "--seed-complaints", "3"
    )
    try:
        printed = printed_settings(proc)  # pasted into the site's settings: a provider account
        assert (printed["MCHID"], printed["SERVICE_PROVIDER"], printed["SUB_MERCHANTS"]) == ("1900000100", True, subs)
        seeded = lines_until(proc, 3, ("seeded complaint ",))
        assert [line.rsplit(" ", 1)[-1] for line in seeded] == [subs[0], subs[1], subs[0]]
        settings.WXPAY_MEDIA = printed
        out = io.StringIO()
        call_command("wxpay_complaints", "sync", stdout=out, stderr=io.StringIO())
        stored = Complaint.objects.values_list("complainted_mchid", flat=True)
        assert sorted(stored) == sorted([subs[0], subs[1], subs[0]])
    finally:
        stop(proc, signal.SIGTERM)


def test_sub_merchants_must_be_merchant_numbers():
    result = subprocess.run(
        [sys.executable, "-m", "django_wxpay_media.sandbox", "--sub-merchants", "shop,1900000101"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=PATIENCE,
        check=False,
    )
    assert result.returncode == 2 and "--sub-merchants takes merchant numbers" in result.stderr
