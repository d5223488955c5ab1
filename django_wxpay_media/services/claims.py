"""Claims: who may upload a record now, the upload itself, and recording WeChat Pay's answer.

A record is *claimed* by a conditional ``UPDATE`` (pending/failed -> uploading, new
token) that only one caller can win; whoever loses waits, polling, for the
outcome. The final ``UPDATE`` matches the claim token, so an attempt whose claim
was taken over never overwrites the record.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from django.db import DatabaseError
from django.db.models import F
from django.dispatch import Signal
from django.utils import timezone

from .. import conf, signals
from ..exceptions import MerchantMismatchError, RecordedError, RecordSaveError, StoredFileError, UploadInProgressError
from ..models import FeedbackImage
from ..outcome import UploadOutcome, UploadState
from ..wechatpay import PreparedImage, UploadResult, WeChatPayClient, errors
from .storing import _load_stored, _new_token, _savepoint

logger = logging.getLogger("django_wxpay_media")

Status = FeedbackImage.Status

# Polling while another caller uploads: start quick (uploads usually take well
# under a second), back off to keep the database quiet on slow ones.
_POLL_FIRST = 0.05
_POLL_MAX = 0.5
# How often a caller goes back to claiming after waiting; each wait is bounded
# by conf.upload_timeout(), so this only guards against a pathological loop.
_MAX_ROUNDS = 3


def _send(signal: Signal, **kwargs: Any) -> None:
    # The record is saved already; a broken receiver must not turn the outcome around.
    for receiver, response in signal.send_robust(sender=FeedbackImage, **kwargs):
        if isinstance(response, Exception):
            logger.error("Receiver %r of a django_wxpay_media signal failed: %s", receiver, response, exc_info=response)


def _not_retried(image: FeedbackImage, *, source: Any) -> UploadOutcome:
    """The outcome of bytes whose record failed (or is being uploaded), without sending them."""
    if image.status == Status.FAILED:
        return UploadOutcome(UploadState.FAILED, image, RecordedError.from_image(image), source=source)
    if image.is_stale:
        abandoned = RecordedError(
            "UPLOAD_ABANDONED",
            f"The upload of FeedbackImage {image.pk} started at {image.upload_started_at} never finished.",
        )
        return UploadOutcome(UploadState.FAILED, image, abandoned, source=source)
    busy = UploadInProgressError(f"FeedbackImage {image.pk} is being uploaded by another process.")
    return UploadOutcome(UploadState.BUSY, image, busy, source=source)


def _merchant_mismatch(image: FeedbackImage, account: str | None = None) -> MerchantMismatchError | None:
    """Why ``image`` is not the media of ``account`` (default: the account it was uploaded through), or ``None``."""
    settings = conf.get_account(account or image.account)
    current = settings.mchid
    if image.mchid == current:
        return None
    # Signing another merchant's record with this merchant's key would mix up media_ids.
    return MerchantMismatchError(
        f"FeedbackImage {image.pk} belongs to merchant {image.mchid}, but {settings.setting}['MCHID'] is {current}.",
        mchid=image.mchid,
        current=current,
    )


def client_for(image: FeedbackImage) -> WeChatPayClient:
    """The shared client of the account ``image`` was uploaded through."""
    return conf.get_client(image.account)


def _claim(image: FeedbackImage) -> str | None:
    """Take the right to upload ``image``: its new claim token, for exactly one concurrent caller.

    Only a record :meth:`~django_wxpay_media.models.FeedbackImageQuerySet.takeable`
    now can be claimed. ``image`` is updated in place with what the ``UPDATE`` wrote
    (no re-read; its ``attempts`` is the count this caller knew, plus one).
    """
    now = timezone.now()
    token = _new_token()
    claimed = (
        FeedbackImage.objects.takeable(now)
        .filter(pk=image.pk)
        .update(status=Status.UPLOADING, attempts=F("attempts") + 1, upload_started_at=now, claim_token=token)
    )
    if claimed != 1:
        return None
    image.status, image.upload_started_at, image.claim_token = Status.UPLOADING, now, token
    image.attempts += 1
    return token


def _wait_for_other(image: FeedbackImage) -> FeedbackImage:
    """Poll until ``image`` is no longer being uploaded, or its claim goes stale."""
    delay = _POLL_FIRST
    while True:
        image.refresh_from_db()
        if not image.is_busy:
            return image
        time.sleep(delay)
        delay = min(delay * 2, _POLL_MAX)


def _finish(
    image: FeedbackImage, prepared: PreparedImage | None, client: WeChatPayClient, *, source: Any, wait: bool = True
) -> UploadOutcome:
    """Make sure ``image`` gets uploaded; the outcome says whether *this* call sent it.

    ``prepared`` is the validated content when the caller has it; otherwise the
    stored file is read (after the claim, so a waiting caller never reads it). A
    record another caller is uploading (a fresh claim) is waited for; with
    ``wait=False`` (someone waiting at a screen) it is ``BUSY`` at once instead.
    """
    for _ in range(_MAX_ROUNDS):
        if image.status == Status.UPLOADED:
            return UploadOutcome(UploadState.REUSED, image, source=source)
        token = _claim(image)
        if token is not None:
            return _perform(image, prepared, client, token, source=source)
        if not wait:
            image.refresh_from_db()
            if image.is_busy:
                break
            continue  # uploaded or released meanwhile: look again
        image = _wait_for_other(image)
        if image.status == Status.FAILED:
            # We waited on another caller's attempt: share its outcome rather than
            # repeat a request that just failed.
            return UploadOutcome(UploadState.FAILED, image, RecordedError.from_image(image), source=source)
    busy = UploadInProgressError(f"FeedbackImage {image.pk} is still being uploaded by another process.")
    return UploadOutcome(UploadState.BUSY, image, busy, source=source)


def _perform(
    image: FeedbackImage, prepared: PreparedImage | None, client: WeChatPayClient, token: str, *, source: Any
) -> UploadOutcome:
    """Upload ``image`` (claimed by us with ``token``) and record the outcome."""
    try:
        if prepared is None:
            prepared = _load_stored(image)
        result = client.upload_image(prepared)
    except (errors.WeChatPayError, StoredFileError) as exc:
        _record_failure(image, token, exc.code, str(exc), getattr(exc, "request_id", None))
        logger.warning("Upload of FeedbackImage %s (%s) failed: %s", image.pk, image.filename, exc)
        _send(signals.image_upload_failed, image=image, error=exc)
        return UploadOutcome(UploadState.FAILED, image, exc, source=source)
    except BaseException as exc:
        # A bug or an interrupt: release the claim so the image is not blocked until it goes stale.
        try:
            _record_failure(image, token, "UNEXPECTED_ERROR", f"Upload interrupted by {type(exc).__name__}.", None)
        except Exception:  # pragma: no cover - the database may be why we are here
            logger.exception("Could not record the interrupted upload of FeedbackImage %s.", image.pk)
        raise
    return _record_success(image, token, result, source=source)


def _record_success(image: FeedbackImage, token: str, result: UploadResult, *, source: Any) -> UploadOutcome:
    """Save WeChat Pay's answer on ``image`` if this call still owns the claim ``token``."""
    values: dict[str, Any] = {
        "status": Status.UPLOADED,
        "media_id": result.media_id,
        "request_id": (result.request_id or "")[:128],
        "uploaded_at": timezone.now(),
        "error_code": "",
        "error_message": "",
    }
    try:
        with _savepoint():
            saved = FeedbackImage.objects.filter(pk=image.pk, status=Status.UPLOADING, claim_token=token).update(
                **values
            )
    except DatabaseError as exc:
        # The answer cannot be stored (e.g. a media_id the column refuses): a failure
        # like any other, never a record left "uploading".
        failure = RecordSaveError(
            f"WeChat Pay accepted FeedbackImage {image.pk} (media_id {result.media_id!r}) but the record "
            f"could not be saved: {type(exc).__name__}: {exc}",
            media_id=result.media_id,
        )
        failure.__cause__ = exc
        logger.error("%s", failure, exc_info=exc)
        try:
            _record_failure(image, token, failure.code, str(failure), result.request_id)
        except DatabaseError:  # the database is down: the claim goes stale and a retry takes it over
            logger.exception("Could not record the failure of FeedbackImage %s either.", image.pk)
        _send(signals.image_upload_failed, image=image, error=failure)
        return UploadOutcome(UploadState.FAILED, image, failure, source=source)
    if saved != 1:
        return _claim_lost(image, result, source=source)
    for name, value in values.items():
        setattr(image, name, value)
    logger.info(
        "Uploaded FeedbackImage %s (%s) to WeChat Pay: media_id %s, Request-ID %s.",
        image.pk,
        image.filename,
        image.media_id,
        image.request_id or "-",
    )
    _send(signals.image_uploaded, image=image)
    return UploadOutcome(UploadState.SENT, image, source=source)


def _claim_lost(image: FeedbackImage, result: UploadResult, *, source: Any) -> UploadOutcome:
    """This call's answer came after its claim was taken over (it ran past the stale window).

    The record is not overwritten: another caller's media_id stays (``REUSED``).
    If nobody's answer is recorded (the other attempt failed), ours is saved after
    all (``SENT``); a record deleted meanwhile is ``GONE``.
    """
    logger.warning(
        "Upload of FeedbackImage %s finished (media_id %s) after its claim was taken over; "
        "the record keeps the other caller's result.",
        image.pk,
        result.media_id,
    )
    try:
        image = _wait_for_other(image)
    except FeedbackImage.DoesNotExist:
        return UploadOutcome(UploadState.GONE, image, source=source)
    if image.status == Status.UPLOADED:
        return UploadOutcome(UploadState.REUSED, image, source=source)
    if image.status in (Status.PENDING, Status.FAILED):
        token = _claim(image)
        if token is not None:
            return _record_success(image, token, result, source=source)
    busy = UploadInProgressError(f"FeedbackImage {image.pk} is being uploaded by another process.")
    return UploadOutcome(UploadState.BUSY, image, busy, source=source)


def _record_failure(image: FeedbackImage, token: str, code: str, message: str, request_id: str | None) -> None:
    """Turn this call's claim into a failure; a claim taken over is left to its new owner."""
    values: dict[str, Any] = {
        "status": Status.FAILED,
        "error_code": (code or "")[:64],
        "error_message": message,
        "request_id": (request_id or "")[:128],
    }
    with _savepoint():
        saved = FeedbackImage.objects.filter(pk=image.pk, status=Status.UPLOADING, claim_token=token).update(**values)
    if saved == 1:
        for name, value in values.items():
            setattr(image, name, value)
        return
    with contextlib.suppress(FeedbackImage.DoesNotExist):
        image.refresh_from_db()  # someone else's result: show it


def _retry_one(
    image: FeedbackImage,
    client: WeChatPayClient | None = None,
    *,
    retry_failed: bool = True,
    wait: bool = True,
    account: str | None = None,
) -> UploadOutcome:
    """:func:`~django_wxpay_media.services.retry` of one record; see :func:`_finish` for ``wait``.

    With ``retry_failed=False`` a failed or abandoned record is reported, not sent again.
    ``account`` (default: the record's own) is the account that needs it: another
    merchant's record is ``FAILED`` with a :class:`MerchantMismatchError`. ``client``
    defaults to the record's account's.
    """
    try:
        image.refresh_from_db()
    except FeedbackImage.DoesNotExist:
        logger.info("FeedbackImage %s was deleted before it could be uploaded.", image.pk)
        return UploadOutcome(UploadState.GONE, image, source=image)
    # First: another merchant's record, uploaded or not, is never this merchant's media_id.
    mismatch = _merchant_mismatch(image, account)
    if mismatch is not None:
        return UploadOutcome(UploadState.FAILED, image, mismatch, source=image)
    if client is None:
        client = client_for(image)
    if image.status == Status.UPLOADED:
        return UploadOutcome(UploadState.REUSED, image, source=image)
    if not retry_failed and image.status in (Status.FAILED, Status.UPLOADING):
        return _not_retried(image, source=image)
    return _finish(image, None, client, source=image, wait=wait)
