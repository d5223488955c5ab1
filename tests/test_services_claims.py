"""No record stuck in ``uploading``, claims owned by a token, and three queries per image.

Against the sandbox over a real socket; a killed child process leaves a real claim.
Run on the three databases (``WXPAY_TEST_DB=postgres`` / ``mariadb``).
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import DataError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_wxpay_media import conf, services, texts
from django_wxpay_media.models import FeedbackImage
from django_wxpay_media.outcome import UploadState

from .admin_helpers import CHANGELIST, change_url, messages_of, upload_url
from .helpers import wait_for
from .images import png
from .race_child import upload_in_child

Status = FeedbackImage.Status

pytestmark = pytest.mark.usefixtures("media_root")


# -- the stale window ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [{}, {"MAX_RETRIES": 0}, {"MAX_RETRIES": 5, "TIMEOUT": 30, "RETRY_BACKOFF": 20}, {"TIMEOUT": 0.5}],
    ids=["defaults", "no-retries", "slow", "short-timeout"],
)
def test_stale_window_outlasts_the_longest_call(wxpay_sandbox, settings, options):
    """The window covers the client's deadline: retries and Retry-After waits included."""
    settings.WXPAY_MEDIA = {**wxpay_sandbox.settings(), **options}
    client = conf.get_client()
    assert conf.upload_timeout().total_seconds() > client.max_call_seconds
    # A call can outlast its deadline by one socket timeout, never by more.
    assert client.max_call_seconds >= client.deadline + client.timeout


# -- a claim taken over ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_late_answer_never_overwrites_the_caller_that_took_over(wxpay_settings):
    data = png("taken over")
    wxpay_settings.add_fault("delay", seconds=2.0)  # only the first caller's request is slow
    results: list = []
    first = threading.Thread(target=lambda: results.append(services.upload(data)))
    first.start()
    wait_for(lambda: not wxpay_settings.pending_faults, "the first request to reach the sandbox")
    # As if the first caller ran past the stale window (clock skew, a stuck worker):
    record = FeedbackImage.objects.get()
    long_ago = timezone.now() - conf.upload_timeout() - timedelta(seconds=1)
    FeedbackImage.objects.filter(pk=record.pk).update(upload_started_at=long_ago)

    second = services.retry(record)
    first.join(timeout=60)

    assert second.state is UploadState.SENT
    [late] = results
    saved = FeedbackImage.objects.get()
    assert len(wxpay_settings.uploads) == 2  # WeChat Pay got it twice: the first answer came late
    assert saved.media_id == second.record.media_id  # the caller that owns the claim wins
    assert late.state is UploadState.REUSED  # the late caller reports the record's media_id, not its own
    assert late.record.media_id == saved.media_id
    assert (saved.status, saved.attempts) == (Status.UPLOADED, 2)


# -- a failed final update --------------------------------------------------------------------------


@contextmanager
def final_update_fails():
    """The database refuses the UPDATE that records an upload (as it would an odd media_id)."""

    def refuse(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("UPDATE") and params and Status.UPLOADED.value in params:
            raise DataError("value too long for type character varying(512)")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(refuse):
        yield


@pytest.mark.parametrize("in_transaction", [False, True], ids=["autocommit", "atomic"])
@pytest.mark.django_db(transaction=True)
def test_a_failed_final_update_is_recorded_not_left_uploading(wxpay_settings, in_transaction):
    data = png(f"final update {in_transaction}")
    with final_update_fails():
        if in_transaction:
            with transaction.atomic():
                outcome = services.upload(data)
        else:
            outcome = services.upload(data)

    saved = FeedbackImage.objects.get()
    assert outcome.state is UploadState.FAILED
    assert outcome.code == "RECORD_ERROR"
    assert (saved.status, saved.error_code) == (Status.FAILED, "RECORD_ERROR")
    assert wxpay_settings.uploads[0].media_id in saved.error_message  # the answer is logged on the record
    assert "could not save" in texts.outcome_message(outcome)
    # A retry finishes it.
    assert services.retry(saved).state is UploadState.SENT
    assert FeedbackImage.objects.get().status == Status.UPLOADED


# -- a process killed mid-upload ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_killed_upload_becomes_retryable_in_the_admin(wxpay_settings, settings, media_root, admin_client):
    data = png("killed")
    child_settings = {**settings.WXPAY_MEDIA, "TIMEOUT": 60}  # the child would wait for its answer
    # Here the window is short: no retries, half a second per socket operation.
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "TIMEOUT": 0.5, "MAX_RETRIES": 0}
    wxpay_settings.add_fault("delay", seconds=5.0)  # the child's request hangs until it is killed
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    barrier = ctx.Barrier(1)  # kept referenced until the child has started
    child = ctx.Process(
        target=upload_in_child,
        args=(connection.settings_dict["NAME"], child_settings, str(media_root), data, barrier, results),
    )
    child.start()
    try:
        wait_for(
            lambda: not wxpay_settings.pending_faults or not child.is_alive(),
            "the child's request to reach the sandbox",
        )
    finally:
        child.kill()
        child.join(timeout=30)
    assert not wxpay_settings.pending_faults
    with pytest.raises(queue.Empty):
        results.get(timeout=0.1)  # it never reported: killed mid-upload
    record = FeedbackImage.objects.get()
    assert record.status == Status.UPLOADING and not record.is_stale

    # While the claim is fresh the admin offers no retry, and the action skips it.
    assert "Retry upload" not in admin_client.get(change_url(record)).content.decode()
    response = admin_client.post(
        reverse(CHANGELIST), {"action": "upload_selected", "_selected_action": [record.pk]}, follow=True
    )
    assert messages_of(response) == ["1 image was skipped: it is being uploaded right now."]

    wait_for(lambda: FeedbackImage.objects.get().is_stale, "the claim to go stale")
    assert FeedbackImage.objects.stale().get() == record
    assert "Retry upload" in admin_client.get(change_url(record)).content.decode()
    response = admin_client.post(upload_url(record), follow=True)

    saved = FeedbackImage.objects.get()
    assert "was uploaded to WeChat Pay" in messages_of(response)[0]
    assert (saved.status, saved.attempts) == (Status.UPLOADED, 2)
    assert saved.media_id == wxpay_settings.uploads[-1].media_id


@pytest.mark.django_db(transaction=True)
def test_the_action_takes_over_an_abandoned_upload(wxpay_settings, admin_client):
    record = services.store(png("abandoned, action")).record
    long_ago = timezone.now() - conf.upload_timeout() - timedelta(seconds=1)
    FeedbackImage.objects.filter(pk=record.pk).update(status=Status.UPLOADING, upload_started_at=long_ago)

    response = admin_client.post(
        reverse(CHANGELIST), {"action": "upload_selected", "_selected_action": [record.pk]}, follow=True
    )

    assert messages_of(response) == ["1 image was uploaded to WeChat Pay."]
    assert FeedbackImage.objects.get().status == Status.UPLOADED


@pytest.mark.django_db
@pytest.mark.parametrize("started", [None, "long ago", "just now"], ids=["no start time", "abandoned", "fresh claim"])
def test_what_a_claim_would_take_the_batch_picks_up(wxpay_settings, started):
    """One take-over rule: ``upload_pending`` takes exactly the records a retry's claim would take."""
    record = services.store(png(f"take-over {started}")).record
    when = {
        None: None,
        "long ago": timezone.now() - conf.upload_timeout() - timedelta(seconds=1),
        "just now": timezone.now(),
    }[started]
    FeedbackImage.objects.filter(pk=record.pk).update(status=Status.UPLOADING, upload_started_at=when)
    record.refresh_from_db()
    takeable = started != "just now"
    assert record.is_retryable is takeable and record.is_busy is not takeable
    assert FeedbackImage.objects.takeable().filter(pk=record.pk).exists() is takeable

    outcomes = services.upload_pending()

    assert [(o.record.pk, o.state) for o in outcomes] == ([(record.pk, UploadState.SENT)] if takeable else [])
    assert FeedbackImage.objects.get().status == (Status.UPLOADED if takeable else Status.UPLOADING)


# -- queries ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_three_queries_per_uploaded_image(wxpay_settings, django_user_model):
    user = django_user_model.objects.create_user("counted", password="x")
    services.upload_image(png("warm up"))  # the client and its keys are ready; the sandbox is up
    with CaptureQueriesContext(connection) as new:
        image = services.upload_image(png("three queries"), user=user)
    with CaptureQueriesContext(connection) as reused:
        services.upload_image(png("three queries"))
    failed = services.store(png("retried")).record
    with CaptureQueriesContext(connection) as retried:
        services.retry(failed)

    assert image.status == Status.UPLOADED and image.media_id and image.uploaded_by == user
    assert [q["sql"].split()[0] for q in new.captured_queries] == ["SELECT", "INSERT", "UPDATE"], new.captured_queries
    assert len(reused.captured_queries) == 1
    assert len(retried.captured_queries) == 3  # read the record, claim, record the answer
    saved = FeedbackImage.objects.get(pk=image.pk)
    assert (saved.media_id, saved.status, saved.attempts, saved.request_id) == (
        image.media_id,
        image.status,
        image.attempts,
        image.request_id,
    )
