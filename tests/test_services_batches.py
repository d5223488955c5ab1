"""The services' batches against the sandbox: streamed, one connection per worker, stoppable."""

from __future__ import annotations

import _thread
import threading

import pytest
from django.db.backends.signals import connection_created
from django.utils import timezone

from django_wxpay_media import services, signals
from django_wxpay_media.models import FeedbackImage
from django_wxpay_media.outcome import UploadState

from .images import png

Status = FeedbackImage.Status

pytestmark = [pytest.mark.usefixtures("media_root"), pytest.mark.django_db(transaction=True)]


def stored(prefix: str, count: int) -> list[FeedbackImage]:
    """``count`` pending records (stored, nothing sent), oldest first."""
    outcomes = [services.store(png(f"{prefix} {n}")) for n in range(count)]
    assert {o.state for o in outcomes} == {UploadState.QUEUED}
    return [o.record for o in outcomes]


@pytest.fixture
def concurrency(settings):
    def set_to(workers: int) -> None:
        settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "CONCURRENCY": workers}

    return set_to


def test_interrupted_batch_keeps_every_finished_upload_and_starts_no_more(wxpay_settings, concurrency):
    """Ctrl-C half way: the uploads under way finish and are recorded; the rest stay pending."""
    concurrency(4)
    records = stored("interrupt", 24)
    wxpay_settings.add_fault("delay", count=24, seconds=0.2)

    interrupted = threading.Event()

    def interrupt(**kwargs):
        if not interrupted.is_set():  # one Ctrl-C (a second one means "stop waiting")
            interrupted.set()
            _thread.interrupt_main()  # what Ctrl-C does to the command's main thread

    signals.image_uploaded.connect(interrupt, weak=False)
    try:
        with pytest.raises(KeyboardInterrupt):
            services.upload_records(records)
    finally:
        signals.image_uploaded.disconnect(interrupt)

    statuses = dict(FeedbackImage.objects.values_list("pk", "status"))
    uploaded = {pk for pk, status in statuses.items() if status == Status.UPLOADED}
    media_ids = set(FeedbackImage.objects.filter(pk__in=uploaded).values_list("media_id", flat=True))
    # Every upload WeChat accepted is recorded with its media_id; nothing is left half way.
    assert media_ids == {upload.media_id for upload in wxpay_settings.uploads}
    assert Status.UPLOADING not in statuses.values()
    # It stopped: no new upload was started after the interrupt.
    assert 0 < len(uploaded) < len(records)
    assert set(statuses.values()) == {Status.UPLOADED, Status.PENDING}

    # And a later run finishes the job.
    wxpay_settings.clear_faults()
    rest = services.upload_pending()
    assert {o.state for o in rest} == {UploadState.SENT}
    assert FeedbackImage.objects.uploaded().count() == len(records)


def test_records_are_streamed_to_the_workers(wxpay_settings, concurrency):
    """A generator of records is read a few ahead of the workers, not all first."""
    wxpay_settings.add_fault("delay", count=40, seconds=0.05)
    concurrency(2)
    records = stored("stream", 40)
    taken = []
    taken_at_first_upload = []

    def source():
        for record in records:
            taken.append(record.pk)
            yield record

    def first_done(**kwargs):
        if not taken_at_first_upload:
            taken_at_first_upload.append(len(taken))

    signals.image_uploaded.connect(first_done, weak=False)
    try:
        outcomes = services.upload_records(source())
    finally:
        signals.image_uploaded.disconnect(first_done)
    assert [o.record.pk for o in outcomes] == [r.pk for r in records]
    assert {o.state for o in outcomes} == {UploadState.SENT}
    # One per thread, as many queued, one being put: far from all forty.
    threads = 2 + services.batches._PREPARE_AHEAD
    assert taken_at_first_upload[0] <= 2 * threads + 1 < len(records)


def test_each_worker_keeps_one_database_connection(wxpay_settings, concurrency):
    concurrency(3)
    records = stored("connections", 12)
    opened = []

    def count(sender, connection, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            opened.append(threading.current_thread().name)

    connection_created.connect(count, weak=False)
    try:
        outcomes = services.upload_records(records)
    finally:
        connection_created.disconnect(count)
    assert {o.state for o in outcomes} == {UploadState.SENT}
    # One per worker thread, not one per image.
    assert len(opened) == len(set(opened)) <= 3 + services.batches._PREPARE_AHEAD < len(records)


def test_no_more_than_concurrency_requests_on_the_wire(wxpay_settings, concurrency):
    """Batches run a few threads more than CONCURRENCY; only CONCURRENCY requests are sent at a time."""
    concurrency(2)
    records = stored("in flight", 12)
    wxpay_settings.add_fault("delay", count=12, seconds=0.1)
    outcomes = services.upload_records(records)
    assert {o.state for o in outcomes} == {UploadState.SENT}
    # The client keeps a connection per request on the wire at once (keep-alive reuses them).
    ports = {request.client_port for request in wxpay_settings.requests}
    assert len(ports) == 2


def test_upload_pending_pages_through_ties_once_each(wxpay_settings, concurrency, monkeypatch):
    """Records are read a page at a time; equal created_at values are neither skipped nor repeated."""
    concurrency(3)
    monkeypatch.setattr(services.batches, "_PAGE_SIZE", 4)
    records = stored("pages", 11)
    FeedbackImage.objects.filter(pk__in=[r.pk for r in records[3:9]]).update(created_at=timezone.now())
    wxpay_settings.add_fault("status", status=400, code="INVALID_REQUEST", message="rule", count=1)

    outcomes = services.upload_pending()
    assert sorted(o.record.pk for o in outcomes) == sorted(r.pk for r in records)
    assert len(outcomes) == len({o.record.pk for o in outcomes})  # a failed one is not taken again
    assert len(wxpay_settings.requests) == len(records)


def test_a_batch_run_for_its_effect_keeps_nothing_per_item(wxpay_settings, concurrency, monkeypatch):
    """The complaint sync's function returns None: the batch keeps no entry per item while it runs."""
    concurrency(3)
    made = []
    init = services.batches._Batch.__init__

    def capture(self, *args, **kwargs):
        init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(services.batches._Batch, "__init__", capture)
    done = []
    assert services.batches.run_all(done.append, iter(range(40))) == [None] * 40
    assert sorted(done) == list(range(40))
    assert len(made) == 1 and made[0].results == {}
    # Other results still come back in order, None ones as None.
    expected = [n * 2 if n % 3 else None for n in range(20)]
    assert services.batches.run_all(lambda n: n * 2 if n % 3 else None, range(20)) == expected
