"""A real worker process uploads what the admin queued (``BACKGROUND_UPLOADS``).

The test starts ``django-tasks-db``'s ``db_worker`` command as a subprocess on the
test database, submits an image through the admin add view, sees the record
queued (pending, a task row holding its pk), and waits - polling the database,
bounded - for the worker to upload it to the sandbox, which runs in this
process. Needs PostgreSQL (the worker and the test share the database while both
run) and the ``tasks`` extra; CI runs it as::

    WXPAY_TEST_DB=postgres python -m pytest --ds=tests.settings_tasks tests/test_tasks_worker.py
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from django_wxpay_media.models import FeedbackImage

from .admin_helpers import ADD, CHANGELIST, messages_of
from .helpers import wait_for
from .images import png_bytes

pytest.importorskip("django_tasks_db", reason="needs the tasks extra: pip install 'django-wxpay-media[tasks]'")

ROOT = Path(__file__).resolve().parent.parent
WAIT_SECONDS = 60  # a bound on the wait, not a speed requirement: the poll ends as soon as the upload is in

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the worker must see what the test commits
    pytest.mark.skipif(
        "django_tasks_db" not in settings.INSTALLED_APPS,
        reason="run with --ds=tests.settings_tasks (the django-tasks-db backend and its tables)",
    ),
]


@pytest.fixture
def on_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("the worker test runs on PostgreSQL (WXPAY_TEST_DB=postgres)")


@pytest.fixture
def worker(on_postgres, wxpay_sandbox, settings, tmp_path):
    """``db_worker`` in a subprocess on this test's database, media and sandbox; stopped after the test."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.WXPAY_MEDIA = {**wxpay_sandbox.settings(paths_dir=tmp_path), "BACKGROUND_UPLOADS": True}
    shared = tmp_path / "worker.json"
    shared.write_text(
        json.dumps(
            {
                "db_name": connection.settings_dict["NAME"],
                "media_root": settings.MEDIA_ROOT,
                "wxpay_media": settings.WXPAY_MEDIA,
            }
        ),
        encoding="utf-8",
    )
    log = (tmp_path / "worker.log").open("w+", encoding="utf-8")
    env = {**os.environ, "WXPAY_TEST_WORKER": str(shared), "DJANGO_SETTINGS_MODULE": "tests.settings_tasks"}
    process = subprocess.Popen(
        [sys.executable, "-m", "django", "db_worker", "--no-startup-delay", "--interval", "0.1", "--no-reload"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    process.log = log  # type: ignore[attr-defined]
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)  # db_worker finishes its task, then exits
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def worker_output(process) -> str:
    process.log.flush()
    process.log.seek(0)
    return process.log.read()


def wait_for_worker(condition, process) -> None:
    """Poll ``condition()`` until true; fail with the worker's output if it exits or after WAIT_SECONDS."""

    def alive() -> None:
        assert process.poll() is None, f"the worker exited ({process.returncode}):\n{worker_output(process)}"

    wait_for(
        condition, "the worker", seconds=WAIT_SECONDS, still_possible=alive, explain=lambda: worker_output(process)
    )


def test_worker_uploads_what_the_admin_add_view_queued(admin_client, wxpay_sandbox, worker):
    from django_tasks_db.models import DBTaskResult

    response = admin_client.post(reverse(ADD), {"upload": SimpleUploadedFile("收据.png", png_bytes(9))}, follow=True)

    # Queued: the request sent nothing, staff are told so, the task holds the record's pk.
    image = FeedbackImage.objects.get()
    assert response.redirect_chain[-1][0] == reverse(CHANGELIST)
    assert "queued for upload to WeChat Pay" in messages_of(response)[0]
    [task] = DBTaskResult.objects.all()
    assert task.task_path == "django_wxpay_media.tasks.upload_feedback_image"
    assert task.args_kwargs == {"args": [image.pk], "kwargs": {}}

    def uploaded() -> bool:
        image.refresh_from_db()
        return image.status == FeedbackImage.Status.UPLOADED

    wait_for_worker(uploaded, worker)

    [sent] = wxpay_sandbox.uploads
    assert image.media_id == sent.media_id
    assert sent.filename == "收据.png"

    def task_finished() -> bool:
        task.refresh_from_db()
        return task.status == "SUCCESSFUL"

    wait_for_worker(task_finished, worker)
    assert task.return_value["state"] == "sent"

    # The same task once more (a redelivery): nothing is sent twice.
    from django_wxpay_media import tasks

    again = tasks.upload_feedback_image.enqueue(image.pk)
    wait_for_worker(lambda: DBTaskResult.objects.get(id=again.id).status == "SUCCESSFUL", worker)
    assert DBTaskResult.objects.get(id=again.id).return_value["state"] == "reused"
    assert len(wxpay_sandbox.uploads) == 1
