"""outcome.py and texts.py: the upload's result as a value, and the sentences staff read about it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone, translation

from django_wxpay_media import services, texts
from django_wxpay_media.exceptions import UploadInProgressError
from django_wxpay_media.models import FeedbackImage
from django_wxpay_media.outcome import UploadOutcome, UploadState, count_states
from django_wxpay_media.texts import OUTCOME_MESSAGES, SUMMARY_MESSAGES, summary_messages
from django_wxpay_media.wechatpay import errors

from .images import png

pytestmark = pytest.mark.usefixtures("media_root")

CJK = re.compile(r"[\u4e00-\u9fff]")


def record(**fields) -> FeedbackImage:
    values = {
        "filename": "receipt.png",
        "sha256": "0" * 64,
        "size": 10,
        "content_type": "image/png",
        "mchid": "1900000001",
        "media_id": "MEDIA-1",
        "status": FeedbackImage.Status.UPLOADED,
        "uploaded_at": timezone.now() - timedelta(days=1),
        **fields,
    }
    return FeedbackImage(**values)


OUTCOMES = {
    UploadState.SENT: lambda: UploadOutcome(UploadState.SENT, record()),
    UploadState.REUSED: lambda: UploadOutcome(UploadState.REUSED, record(), source="/tmp/new-name.png"),
    UploadState.FAILED: lambda: UploadOutcome(
        UploadState.FAILED,
        record(status="failed", media_id=""),
        errors.FrequencyLimitedError("slow down", status=429, request_id="REQ-9"),
    ),
    UploadState.REJECTED: lambda: UploadOutcome(
        UploadState.REJECTED, None, errors.UnsupportedImageFormatError("gif"), source="/tmp/a.gif"
    ),
    UploadState.GONE: lambda: UploadOutcome(UploadState.GONE, record()),
    UploadState.QUEUED: lambda: UploadOutcome(UploadState.QUEUED, record(status="pending", media_id="")),
    UploadState.BUSY: lambda: UploadOutcome(UploadState.BUSY, record(status="uploading"), UploadInProgressError("x")),
}


def test_every_state_has_a_sentence_and_a_count():
    assert set(OUTCOME_MESSAGES) == set(UploadState) == set(SUMMARY_MESSAGES) == set(OUTCOMES)


@pytest.mark.parametrize("state", list(UploadState), ids=str)
def test_each_outcome_has_its_own_translated_sentence(state):
    outcome = OUTCOMES[state]()
    english = texts.outcome_message(outcome)
    assert "%(" not in english
    with translation.override("zh-hans"):
        chinese = texts.outcome_message(outcome)
    assert chinese != english and CJK.search(chinese), chinese
    assert "%(" not in chinese


def test_ok_sent_code_and_media_id():
    sent, reused, failed, rejected = (OUTCOMES[s]() for s in ("sent", "reused", "failed", "rejected"))
    assert (sent.ok, sent.sent, sent.code, sent.media_id) == (True, True, "", "MEDIA-1")
    assert (reused.ok, reused.sent, reused.media_id) == (True, False, "MEDIA-1")
    assert (failed.ok, failed.sent, failed.code, failed.request_id, failed.media_id) == (
        False,
        False,
        "FREQUENCY_LIMITED",
        "REQ-9",
        "",
    )
    assert (rejected.ok, rejected.code, rejected.filename) == (False, "UNSUPPORTED_FORMAT", "/tmp/a.gif")


def test_reused_sentence_names_date_and_the_name_it_went_under():
    text = texts.outcome_message(OUTCOMES[UploadState.REUSED]())
    assert "new-name.png" in text and "“receipt.png”" in text and "MEDIA-1" in text
    assert "nothing was sent" in text


def test_failed_sentence_explains_the_cause():
    text = texts.outcome_message(OUTCOMES[UploadState.FAILED]())
    assert "Too many uploads" in text and "kept" in text


def test_summary_counts_per_state_in_a_fixed_order():
    outcomes = [OUTCOMES[s]() for s in ("failed", "sent", "sent", "reused")]
    assert count_states(outcomes) == {UploadState.SENT: 2, UploadState.REUSED: 1, UploadState.FAILED: 1}
    assert count_states(outcomes)[UploadState.GONE] == 0
    assert summary_messages(outcomes) == [
        (UploadState.SENT, "2 images were uploaded to WeChat Pay."),
        (UploadState.REUSED, "1 image was skipped: it is already uploaded."),
        (UploadState.FAILED, "1 image could not be uploaded to WeChat Pay."),
    ]


def test_states_are_plain_strings():
    assert UploadState.SENT == "sent" and str(UploadState.BUSY) == "busy"
    assert UploadState("queued") is UploadState.QUEUED


@pytest.mark.django_db
def test_the_service_says_sent_then_reused_without_guessing_from_time(wxpay_settings):
    first = services.upload(png("sent then reused"), filename="a.png")
    second = services.upload(SimpleUploadedFile("b.png", png("sent then reused")))
    assert (first.state, second.state) == (UploadState.SENT, UploadState.REUSED)
    assert first.record.pk == second.record.pk
    assert len(wxpay_settings.uploads) == 1
    assert texts.outcome_message(second).startswith("“b.png” was already uploaded")
    # The wrapper keeps the public contract: the record.
    assert services.upload_image(png("sent then reused")).pk == first.record.pk


@pytest.mark.django_db
def test_store_sends_nothing_and_upload_stored_finishes(wxpay_settings):
    stored = services.store(png("stored"), filename="s.png")
    assert stored.state is UploadState.QUEUED
    assert stored.record.status == FeedbackImage.Status.PENDING
    assert wxpay_settings.requests == []
    seen = []
    # The test's transaction is open: the upload waits for the commit that never comes.
    assert services.upload_stored([stored], on_done=seen.append) == [stored]
    assert seen == [] and wxpay_settings.requests == []
    # Already uploaded bytes need no request: REUSED, finished at once.
    services.upload(png("done before"))
    reused = services.store(png("done before"))
    assert reused.state is UploadState.REUSED
    [final] = services.upload_stored([reused], on_done=seen.append)
    assert final is reused and seen == [[reused]]


@pytest.mark.django_db(transaction=True)
def test_upload_stored_runs_now_without_a_transaction(wxpay_settings):
    stored = [services.store(png(f"now {n}")) for n in range(2)]
    seen = []
    final = services.upload_stored(stored, on_done=seen.append)
    assert [o.state for o in final] == [UploadState.SENT, UploadState.SENT]
    assert [o.source for o in final] == [o.source for o in stored]
    assert seen == [final]
    assert len(wxpay_settings.uploads) == 2
