"""No transaction or lock is held while WeChat Pay answers a form's upload.

The admin saves a form inside ``transaction.atomic()``. The form fields store the
images while cleaning and upload them only after the commit. These tests hold the
upload request in the sandbox (its ``delay`` fault) and meanwhile check the
database from another connection: on SQLite a second writer gets its write
through; on PostgreSQL no session is ``idle in transaction``. Both fail when the
upload runs inside the transaction again (checked by moving it back).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections
from django.urls import reverse

from django_wxpay_media.models import FeedbackImage
from tests.formexample.models import ComplaintReply
from tests.helpers import idle_in_transaction_sessions, in_thread

from .images import png

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root")]

HOLD_SECONDS = 4.0  # how long the sandbox holds the upload request


def _start_slow_save(client, sandbox, tag: str):
    """Post a complaint reply with one image in another thread; the sandbox holds its upload."""
    sandbox.add_fault("delay", seconds=HOLD_SECONDS)

    def post():
        try:
            return client.post(
                reverse("admin:formexample_complaintreply_add"),
                {"complaint_id": "7", "content": "slow", "new_images": [SimpleUploadedFile(f"{tag}.png", png(tag))]},
            )
        finally:
            connections.close_all()

    pool = ThreadPoolExecutor(1)
    future = pool.submit(post)
    pool.shutdown(wait=False)
    # The fault is taken when the upload request arrives; from then on it is held.
    arrived = threading.Event()
    for _ in range(600):
        if not sandbox.pending_faults or future.done():
            arrived.set()
            break
        threading.Event().wait(0.05)
    assert arrived.is_set() and not future.done(), "the upload request never reached the sandbox"
    return future


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's database-wide write lock")
def test_slow_upload_does_not_block_a_second_writer_on_sqlite(admin_client, wxpay_settings):
    future = _start_slow_save(admin_client, wxpay_settings, "sqlite writer")

    def write():
        connection.ensure_connection()
        # Give up at once rather than after SQLite's 5 s: a lock held now is the failure.
        connection.connection.execute("PRAGMA busy_timeout = 200")
        return get_user_model().objects.create_user("second-writer").pk

    try:
        written = in_thread(write).result(timeout=60)
        still_held = wxpay_settings.uploads == []
    finally:
        response = future.result(timeout=60)  # let the save finish before the test's teardown
    assert written
    assert still_held  # the write happened while WeChat Pay was "answering"
    assert response.status_code == 302
    image = FeedbackImage.objects.get()
    assert image.status == FeedbackImage.Status.UPLOADED
    assert ComplaintReply.objects.get().media_ids == [image.media_id]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_stat_activity is PostgreSQL's")
def test_no_session_is_idle_in_transaction_during_the_upload(admin_client, wxpay_settings):
    future = _start_slow_save(admin_client, wxpay_settings, "pg idle")

    try:
        idle = in_thread(idle_in_transaction_sessions).result(timeout=60)
        still_held = wxpay_settings.uploads == []
    finally:
        response = future.result(timeout=60)  # let the save finish before the test's teardown
    assert idle == []
    assert still_held  # looked while WeChat Pay was "answering"
    assert response.status_code == 302
    assert FeedbackImage.objects.get().status == FeedbackImage.Status.UPLOADED
