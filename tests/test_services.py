"""The services against the sandbox over a real socket: uploads, failures, retries, races."""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections, transaction
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from django_wxpay_media import conf, services, signals, texts
from django_wxpay_media.exceptions import (
    FileUnreadableError,
    MerchantMismatchError,
    StoredFileChangedError,
    UploadFailed,
)
from django_wxpay_media.models import FeedbackImage
from django_wxpay_media.outcome import UploadState, count_states
from django_wxpay_media.wechatpay import MAX_IMAGE_SIZE, errors
from tests.helpers import fuzz, in_thread

from .images import jpeg, png, stored_files
from .race_child import upload_in_child

Status = FeedbackImage.Status

pytestmark = pytest.mark.usefixtures("media_root")


def failed_upload(sandbox, data: bytes) -> FeedbackImage:
    """The record of an upload that failed: 500 on the first try and both retries."""
    sandbox.add_fault("status", status=500, count=3)
    outcome = services.upload(data)
    assert outcome.state is UploadState.FAILED
    return outcome.record


def upload_requests(sandbox) -> list:
    return [r for r in sandbox.requests if r.path.endswith("/images/upload")]


# -- the plain path ------------------------------------------------------------------------


@pytest.mark.django_db
def test_upload_bytes_records_everything(wxpay_settings, media_root):
    data = png("bytes")
    image = services.upload_image(data, filename="receipt.jpeg")

    [upload] = wxpay_settings.uploads
    assert image.status == Status.UPLOADED
    assert image.media_id == upload.media_id
    assert image.sha256 == hashlib.sha256(data).hexdigest() == upload.sha256
    assert image.filename == "receipt.png"  # named by content, not by the given suffix
    assert upload.filename == "receipt.png"
    assert image.size == len(data)
    assert image.content_type == "image/png"
    assert image.mchid == wxpay_settings.mchid
    assert image.request_id == upload.request_id
    assert image.attempts == 1
    assert image.uploaded_at is not None
    assert image.error_code == image.error_message == ""
    assert image.uploaded_by is None
    with image.file.open("rb") as fh:
        assert fh.read() == data
    assert stored_files(media_root) == [Path(image.file.path)]
    saved = FeedbackImage.objects.get()
    assert (saved.pk, saved.media_id, saved.status) == (image.pk, image.media_id, Status.UPLOADED)


@pytest.mark.django_db
def test_upload_from_path_uses_its_name(wxpay_settings, tmp_path):
    path = tmp_path / "送货单.JPG"
    path.write_bytes(jpeg("path"))
    image = services.upload_image(path)
    assert image.filename == "送货单.jpg"
    assert wxpay_settings.uploads[0].filename == "送货单.jpg"

    other = tmp_path / "plain.png"
    other.write_bytes(png("str path"))
    assert services.upload_image(str(other)).filename == "plain.png"


@pytest.mark.django_db
def test_upload_from_file_objects(wxpay_settings):
    uploaded = SimpleUploadedFile("photo.png", png("uploaded file"), content_type="image/png")
    uploaded.read(5)  # a form may have looked at it already
    image = services.upload_image(uploaded)
    assert image.filename == "photo.png"
    assert image.sha256 == hashlib.sha256(png("uploaded file")).hexdigest()

    buffer = io.BytesIO(jpeg("bytesio"))
    image = services.upload_image(buffer, filename="scan.jpg")
    assert image.filename == "scan.jpg"
    assert [u.sha256 for u in wxpay_settings.uploads] == [
        hashlib.sha256(png("uploaded file")).hexdigest(),
        hashlib.sha256(jpeg("bytesio")).hexdigest(),
    ]


@pytest.mark.django_db
def test_uploaded_by_is_recorded(wxpay_settings, django_user_model):
    from django.contrib.auth.models import AnonymousUser

    user = django_user_model.objects.create_user("staff", password="x")
    image = services.upload_image(png("user"), user=user)
    assert image.uploaded_by == user
    assert FeedbackImage.objects.get(pk=image.pk).uploaded_by_id == user.pk
    assert services.upload_image(png("anonymous"), user=AnonymousUser()).uploaded_by is None


# -- validation comes first -------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", errors.EmptyImageError),
        (b"GIF89a" + b"\x00" * 100, errors.UnsupportedImageFormatError),
        (b"%PDF-1.7 not an image", errors.UnsupportedImageFormatError),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * MAX_IMAGE_SIZE, errors.ImageTooLargeError),
    ],
    ids=["empty", "gif", "pdf", "too-large"],
)
def test_invalid_input_is_neither_stored_nor_sent(wxpay_settings, media_root, data, error):
    outcome = services.upload(data, filename="x.png")
    assert (outcome.state, outcome.record, outcome.ok) == (UploadState.REJECTED, None, False)
    assert isinstance(outcome.error, error)
    assert outcome.code == error.code
    with pytest.raises(UploadFailed) as excinfo:
        services.upload_image(data, filename="x.png")
    assert excinfo.value.image is None and isinstance(excinfo.value.error, error)
    assert excinfo.value.outcome.state is UploadState.REJECTED
    assert wxpay_settings.requests == []
    assert FeedbackImage.objects.count() == 0
    assert stored_files(media_root) == []


@pytest.mark.django_db
def test_too_large_path_and_file_are_refused_with_their_size(wxpay_settings, tmp_path, media_root):
    big = b"\xff\xd8\xff" + b"\x00" * (MAX_IMAGE_SIZE + 10)
    path = tmp_path / "big.jpg"
    path.write_bytes(big)
    outcome = services.upload(path)
    assert isinstance(outcome.error, errors.ImageTooLargeError)
    assert outcome.error.params == {"size": len(big), "max_size": MAX_IMAGE_SIZE}
    outcome = services.upload(io.BytesIO(big))
    assert isinstance(outcome.error, errors.ImageTooLargeError)
    assert outcome.error.params["size"] == len(big)
    assert wxpay_settings.requests == []
    assert stored_files(media_root) == []


@pytest.mark.django_db
def test_unreadable_path_is_rejected(wxpay_settings, tmp_path):
    outcome = services.upload(tmp_path / "missing.png")
    assert outcome.state is UploadState.REJECTED
    assert isinstance(outcome.error, FileUnreadableError)
    assert isinstance(outcome.error.__cause__, FileNotFoundError)
    assert outcome.code == "FILE_UNREADABLE"
    assert outcome.filename == str(tmp_path / "missing.png")
    assert "cannot read the file" in texts.outcome_message(outcome)
    assert wxpay_settings.requests == []


@pytest.mark.django_db
def test_bad_settings_fail_before_anything_is_stored(wxpay_settings, settings, media_root):
    settings.WXPAY_MEDIA = {k: v for k, v in wxpay_settings.settings().items() if k != "MCHID"}
    with pytest.raises(ImproperlyConfigured, match=r"WXPAY_MEDIA\['MCHID'\]"):
        services.upload_image(png("no mchid"))
    assert FeedbackImage.objects.count() == 0
    assert stored_files(media_root) == []
    assert wxpay_settings.requests == []


# -- the same bytes once -----------------------------------------------------------------------


@pytest.mark.django_db
def test_same_bytes_twice_is_one_request_and_one_record(wxpay_settings, media_root):
    first = services.upload_image(png("twice"), filename="a.png")
    second = services.upload_image(io.BytesIO(png("twice")), filename="b.png")
    assert second.pk == first.pk
    assert second.media_id == first.media_id
    assert second.filename == "a.png"
    assert len(upload_requests(wxpay_settings)) == 1
    assert FeedbackImage.objects.count() == 1
    assert len(stored_files(media_root)) == 1


@pytest.mark.django_db
def test_same_bytes_for_another_merchant_is_another_record(wxpay_settings, wxpay_sandbox_factory, settings):
    first = services.upload_image(png("two merchants"))
    other = wxpay_sandbox_factory(mchid="1900000999")
    settings.WXPAY_MEDIA = {**other.settings(), "MAX_RETRIES": 0}
    second = services.upload_image(png("two merchants"))
    assert second.pk != first.pk
    assert (first.mchid, second.mchid) == (wxpay_settings.mchid, "1900000999")
    assert len(other.uploads) == 1


# -- failures are kept and finished later -------------------------------------------------------


@pytest.mark.django_db
def test_api_error_is_recorded_and_retry_finishes(wxpay_settings, media_root):
    wxpay_settings.add_fault("status", status=400, code="PARAM_ERROR", message="图片格式不对")
    with pytest.raises(UploadFailed) as excinfo:
        services.upload_image(png("param error"), filename="bad.png")

    failed = excinfo.value.image
    assert excinfo.value.outcome.state is UploadState.FAILED
    assert excinfo.value.outcome.record is failed
    assert isinstance(excinfo.value.error, errors.ParamError)
    [request] = wxpay_settings.requests
    saved = FeedbackImage.objects.get(pk=failed.pk)
    assert saved.status == Status.FAILED
    assert saved.error_code == "PARAM_ERROR"
    assert saved.error_message == str(excinfo.value.error)
    assert "图片格式不对" in saved.error_message
    assert saved.request_id and saved.request_id == request.request_id
    assert saved.attempts == 1
    assert saved.media_id == "" and saved.uploaded_at is None
    assert stored_files(media_root) == [Path(saved.file.path)]  # the file is kept

    outcome = services.retry(saved)
    assert outcome.state is UploadState.SENT and outcome.sent and outcome.ok
    image = outcome.record
    assert image is saved
    assert image.status == Status.UPLOADED
    assert image.media_id == wxpay_settings.uploads[0].media_id
    assert image.attempts == 2
    assert image.error_code == image.error_message == ""
    assert image.request_id == wxpay_settings.uploads[0].request_id
    assert wxpay_settings.uploads[0].filename == "bad.png"


@pytest.mark.django_db
def test_system_error_after_client_retries(wxpay_settings):
    wxpay_settings.add_fault("status", count=3, status=500, code="SYSTEM_ERROR")  # MAX_RETRIES 2 -> 3 tries
    with pytest.raises(UploadFailed) as excinfo:
        services.upload_image(png("system error"))
    assert excinfo.value.code == "SYSTEM_ERROR"
    assert len(upload_requests(wxpay_settings)) == 3
    record = FeedbackImage.objects.get()
    assert (record.status, record.error_code, record.attempts) == (Status.FAILED, "SYSTEM_ERROR", 1)
    assert record.request_id == upload_requests(wxpay_settings)[-1].request_id


@pytest.mark.django_db
def test_same_bytes_after_failure_tries_again(wxpay_settings):
    wxpay_settings.add_fault("status", status=403, code="NO_AUTH", message="no permission")
    with pytest.raises(UploadFailed):
        services.upload_image(png("again"))
    image = services.upload_image(png("again"))
    assert image.status == Status.UPLOADED
    assert image.attempts == 2
    assert FeedbackImage.objects.count() == 1


@pytest.mark.django_db
def test_forged_signature_is_a_failure(wxpay_settings):
    wxpay_settings.add_fault("forged_signature")
    with pytest.raises(UploadFailed) as excinfo:
        services.upload_image(png("forged"))
    assert isinstance(excinfo.value.error, errors.SignatureVerificationError)
    record = FeedbackImage.objects.get()
    assert record.status == Status.FAILED
    assert record.error_code == "SIGNATURE_INVALID"
    assert record.media_id == ""


@pytest.mark.django_db
def test_connection_failure_is_recorded(wxpay_settings):
    wxpay_settings.add_fault("drop", count=3)
    with pytest.raises(UploadFailed) as excinfo:
        services.upload_image(png("dropped"))
    assert isinstance(excinfo.value.error, errors.TransportError)
    record = FeedbackImage.objects.get()
    assert record.status == Status.FAILED
    assert record.error_code == excinfo.value.error.code
    assert record.request_id == ""
    assert texts.error_message(excinfo.value) == texts.error_message(excinfo.value.error)


@pytest.mark.django_db
def test_missing_stored_file_fails_the_retry(wxpay_settings):
    record = failed_upload(wxpay_settings, png("lost file"))
    record.file.storage.delete(record.file.name)
    wxpay_settings.reset()
    outcome = services.retry(record)
    assert (outcome.state, outcome.code) == (UploadState.FAILED, "FILE_MISSING")
    record.refresh_from_db()
    assert (record.status, record.error_code, record.attempts) == (Status.FAILED, "FILE_MISSING", 2)
    assert wxpay_settings.requests == []


@pytest.mark.django_db
def test_uploading_the_bytes_again_restores_a_lost_file(wxpay_settings):
    record = failed_upload(wxpay_settings, png("restored"))
    record.file.storage.delete(record.file.name)
    image = services.upload_image(png("restored"))
    assert image.pk == record.pk and image.status == Status.UPLOADED
    assert image.file.storage.exists(image.file.name)
    with image.file.open("rb") as fh:
        assert fh.read() == png("restored")


@pytest.mark.django_db
def test_deleted_records_are_left_out_of_a_batch(wxpay_settings):
    record = failed_upload(wxpay_settings, png("deleted"))
    FeedbackImage.objects.filter(pk=record.pk).delete()
    [outcome] = services.upload_records([record])
    assert (outcome.state, outcome.error) == (UploadState.GONE, None)
    assert services.retry(record).state is UploadState.GONE


@pytest.mark.django_db
def test_changed_stored_file_is_not_uploaded(wxpay_settings):
    record = failed_upload(wxpay_settings, png("changed file"))
    Path(record.file.path).write_bytes(png("something else"))
    wxpay_settings.reset()
    outcome = services.retry(record)
    assert isinstance(outcome.error, StoredFileChangedError)
    assert (outcome.state, outcome.code) == (UploadState.FAILED, "FILE_CHANGED")
    assert wxpay_settings.requests == []


@pytest.mark.django_db
def test_retry_of_an_uploaded_record_sends_nothing(wxpay_settings):
    image = services.upload_image(png("done"))
    wxpay_settings.reset()
    outcome = services.retry(image)
    assert (outcome.state, outcome.sent, outcome.media_id) == (UploadState.REUSED, False, image.media_id)
    assert wxpay_settings.requests == []


@pytest.mark.django_db
def test_retry_refuses_another_merchants_record(wxpay_settings):
    record = failed_upload(wxpay_settings, png("other merchant"))
    FeedbackImage.objects.filter(pk=record.pk).update(mchid="1900000777")
    wxpay_settings.reset()
    outcome = services.retry(record)
    assert isinstance(outcome.error, MerchantMismatchError)
    assert (outcome.state, outcome.code) == (UploadState.FAILED, "MERCHANT_MISMATCH")
    assert services.upload_pending() == []
    assert wxpay_settings.requests == []


@pytest.mark.django_db
def test_abandoned_upload_is_taken_over_by_retry(wxpay_settings):
    record = failed_upload(wxpay_settings, png("abandoned"))
    # As left by a process that died mid-upload, long ago.
    long_ago = timezone.now() - conf.upload_timeout() - timedelta(seconds=1)
    FeedbackImage.objects.filter(pk=record.pk).update(status=Status.UPLOADING, upload_started_at=long_ago)
    outcome = services.retry(record)
    image = outcome.record
    assert outcome.state is UploadState.SENT
    assert image.status == Status.UPLOADED
    assert image.attempts == 2
    assert len(wxpay_settings.uploads) == 1


# -- waiting for another caller ----------------------------------------------------------------


def _claimed_elsewhere(tag: str, sandbox) -> FeedbackImage:
    """A record of ``tag``'s bytes that another process is uploading right now."""
    record = failed_upload(sandbox, png(tag))
    sandbox.reset()
    FeedbackImage.objects.filter(pk=record.pk).update(status=Status.UPLOADING, upload_started_at=timezone.now())
    return record


@pytest.mark.django_db(transaction=True)
def test_waits_for_another_upload_and_takes_its_result(wxpay_settings):
    record = _claimed_elsewhere("waiting", wxpay_settings)
    future = in_thread(services.upload, png("waiting"))
    threading.Event().wait(0.3)  # let the caller find the claim and start waiting
    assert not future.done()
    FeedbackImage.objects.filter(pk=record.pk).update(
        status=Status.UPLOADED, media_id="OTHER-PROCESS.png", uploaded_at=timezone.now()
    )
    outcome = future.result(timeout=30)
    assert outcome.state is UploadState.REUSED  # someone else sent it: not ours
    image = outcome.record
    assert (image.pk, image.media_id) == (record.pk, "OTHER-PROCESS.png")
    assert wxpay_settings.requests == []


@pytest.mark.django_db(transaction=True)
def test_waiter_shares_the_failure_it_waited_for(wxpay_settings):
    record = _claimed_elsewhere("shared failure", wxpay_settings)
    future = in_thread(services.retry, FeedbackImage.objects.get(pk=record.pk))
    threading.Event().wait(0.3)
    FeedbackImage.objects.filter(pk=record.pk).update(
        status=Status.FAILED, error_code="FREQUENCY_LIMITED", error_message="slow down", request_id="REQ-1"
    )
    outcome = future.result(timeout=30)
    assert (outcome.state, outcome.code, outcome.request_id) == (UploadState.FAILED, "FREQUENCY_LIMITED", "REQ-1")
    assert texts.error_message(outcome.error) == texts.error_message(errors.FrequencyLimitedError("x"))
    assert wxpay_settings.requests == []


# -- batches ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_upload_pending_finishes_pending_and_failed(wxpay_settings, settings):
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "CONCURRENCY": 3}
    wxpay_settings.add_fault("status", status=500, count=3 * 4)
    failed = [services.upload(png(f"pending {n}")).record for n in range(4)]
    FeedbackImage.objects.filter(pk=failed[0].pk).update(status=Status.PENDING)
    done = services.upload_image(png("already done"))
    wxpay_settings.reset()

    only_pending = services.upload_pending(include_failed=False)
    assert [(o.state, o.record.pk) for o in only_pending] == [(UploadState.SENT, failed[0].pk)]

    result = services.upload_pending()
    assert [o.record.pk for o in result] == [i.pk for i in failed[1:]]  # oldest first, in order
    assert count_states(result) == {UploadState.SENT: 3}
    assert len(wxpay_settings.uploads) == 4
    assert set(FeedbackImage.objects.values_list("status", flat=True)) == {Status.UPLOADED}
    assert done.pk not in [o.record.pk for o in result]


@pytest.mark.django_db(transaction=True)
def test_upload_records_reports_each_outcome_in_order(wxpay_settings):
    wxpay_settings.add_fault("status", status=500, count=3 * 3)
    records = [services.upload(png(f"batch {n}")).record for n in range(3)]
    wxpay_settings.reset()
    FeedbackImage.objects.filter(pk=records[2].pk).update(status=Status.UPLOADED, media_id="DONE")
    wxpay_settings.add_fault("status", status=400, code="INVALID_REQUEST", message="rule")

    result = services.upload_records(records)
    assert [o.source for o in result] == records
    assert [o.record.pk for o in result] == [r.pk for r in records]
    assert result[2].state is UploadState.REUSED
    assert sorted(o.state for o in result[:2]) == [UploadState.FAILED, UploadState.SENT]
    [failed] = [o for o in result if o.state is UploadState.FAILED]
    assert failed.code == "INVALID_REQUEST" == failed.record.error_code
    assert count_states(result) == {UploadState.SENT: 1, UploadState.REUSED: 1, UploadState.FAILED: 1}


@pytest.mark.django_db
def test_batch_inside_a_transaction_runs_in_this_thread(wxpay_settings):
    # Worker threads could not see rows of this open transaction; the batch must still work.
    wxpay_settings.add_fault("status", status=500, count=3 * 2)
    records = [services.upload(png(f"in transaction {n}")).record for n in range(2)]
    wxpay_settings.reset()
    with transaction.atomic():
        result = services.upload_records(records)
    assert [o.state for o in result] == [UploadState.SENT, UploadState.SENT]


@pytest.mark.django_db(transaction=True)
def test_upload_many_keeps_going_and_keeps_order(wxpay_settings, tmp_path):
    good = tmp_path / "good.png"
    good.write_bytes(png("files good"))
    text = tmp_path / "notes.txt"
    text.write_bytes(b"just text")
    outcomes = services.upload_many([good, text, tmp_path / "missing.png", png("files bytes")])
    assert [o.state for o in outcomes] == [
        UploadState.SENT,
        UploadState.REJECTED,
        UploadState.REJECTED,
        UploadState.SENT,
    ]
    assert outcomes[0].source == good
    assert isinstance(outcomes[1].error, errors.UnsupportedImageFormatError)
    assert outcomes[1].record is None
    assert isinstance(outcomes[2].error.__cause__, FileNotFoundError)
    assert len(wxpay_settings.uploads) == 2


# -- signals -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_signals_fire_once_per_attempt(wxpay_settings):
    received = []

    def on_uploaded(sender, image, **kwargs):
        received.append(("uploaded", sender, image.pk, image.media_id))

    def on_failed(sender, image, error, **kwargs):
        received.append(("failed", sender, image.pk, image.status, error.code))

    def broken(sender, **kwargs):
        raise RuntimeError("a receiver bug")

    signals.image_uploaded.connect(on_uploaded)
    signals.image_upload_failed.connect(on_failed)
    signals.image_uploaded.connect(broken)
    try:
        wxpay_settings.add_fault("status", status=429, code="FREQUENCY_LIMITED", count=3)
        failed = services.upload(png("signals"))
        pk = failed.record.pk
        image = services.retry(failed.record).record
        services.upload_image(png("signals"))  # reused: no attempt, no signal
    finally:
        signals.image_uploaded.disconnect(on_uploaded)
        signals.image_upload_failed.disconnect(on_failed)
        signals.image_uploaded.disconnect(broken)
    assert received == [
        ("failed", FeedbackImage, pk, Status.FAILED, "FREQUENCY_LIMITED"),
        ("uploaded", FeedbackImage, pk, image.media_id),
    ]
    assert image.status == Status.UPLOADED  # the broken receiver changed nothing


# -- races ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("slow_server", [False, True], ids=["fast", "slow"])
def test_threads_racing_for_the_same_bytes(wxpay_settings, media_root, slow_server):
    if slow_server:
        wxpay_settings.add_fault("delay", seconds=1.0)  # losers find the upload running and wait
    workers = 8
    barrier = threading.Barrier(workers)
    data = png(f"thread race {slow_server}")

    def race(n):
        try:
            barrier.wait(timeout=30)
            return services.upload_image(data, filename=f"race{n}.png")
        finally:
            connections.close_all()

    with ThreadPoolExecutor(workers) as pool:
        images = list(pool.map(race, range(workers)))

    assert len(upload_requests(wxpay_settings)) == 1
    assert FeedbackImage.objects.count() == 1
    record = FeedbackImage.objects.get()
    assert {i.pk for i in images} == {record.pk}
    assert {i.media_id for i in images} == {wxpay_settings.uploads[0].media_id}
    assert record.attempts == 1
    assert stored_files(media_root) == [Path(record.file.path)]  # the losers' copies are gone


@pytest.mark.django_db(transaction=True)
def test_threads_with_different_bytes_all_upload(wxpay_settings, settings):
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "CONCURRENCY": 4}
    outcomes = services.upload_many([png(f"many {n}") for n in range(10)])
    assert all(o.ok for o in outcomes)
    assert len(wxpay_settings.uploads) == 10
    assert FeedbackImage.objects.uploaded().count() == 10


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("slow_server", [False, True], ids=["fast", "slow"])
def test_processes_racing_for_the_same_bytes(wxpay_settings, settings, media_root, slow_server):
    if slow_server:
        wxpay_settings.add_fault("delay", seconds=1.0)
    ctx = multiprocessing.get_context("spawn")
    workers = 4
    barrier = ctx.Barrier(workers)
    results = ctx.Queue()
    data = png(f"process race {slow_server}")
    db_name = connection.settings_dict["NAME"]
    processes = [
        ctx.Process(
            target=upload_in_child,
            args=(db_name, dict(settings.WXPAY_MEDIA), str(media_root), data, barrier, results),
        )
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    outcomes = []
    while len(outcomes) < workers:
        try:
            outcomes.append(results.get(timeout=1))
        except queue.Empty:
            if not any(p.is_alive() for p in processes) and results.empty():
                break  # a child died without reporting
    for process in processes:
        process.join(timeout=30)

    assert [o[0] for o in outcomes] == ["ok"] * workers, outcomes
    record = FeedbackImage.objects.get()
    assert {o[1] for o in outcomes} == {record.pk}
    assert {o[2] for o in outcomes} == {record.media_id}
    assert len(upload_requests(wxpay_settings)) == 1
    assert record.attempts == 1
    assert stored_files(media_root) == [Path(record.file.path)]


# -- hostile input -----------------------------------------------------------------------------


@pytest.mark.django_db
@fuzz(100)
@given(
    data=st.one_of(
        st.binary(max_size=80),
        st.builds(
            lambda head, tail: head + tail,
            st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM", b"GIF89a"]),
            st.binary(max_size=80),
        ),
    ),
    name=st.one_of(st.none(), st.text(max_size=200)),
)
def test_upload_never_raises_for_any_bytes_and_name(wxpay_settings, data, name):
    before = len(wxpay_settings.requests)
    outcome = services.upload(data, filename=name)
    assert outcome.state in (UploadState.SENT, UploadState.REUSED, UploadState.FAILED, UploadState.REJECTED)
    assert texts.outcome_message(outcome) and "%(" not in texts.outcome_message(outcome)
    if outcome.state is UploadState.REJECTED:
        assert outcome.record is None and outcome.code
        assert len(wxpay_settings.requests) == before  # nothing invalid is sent
