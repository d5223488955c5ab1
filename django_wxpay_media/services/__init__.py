"""Uploading feedback images: the only code that changes ``FeedbackImage`` state.

The database and the WeChat Pay client meet here. The rules users rely on:

* Input is validated before anything is stored or sent.
* One record per merchant and file content (``mchid``, ``sha256``): the same
  bytes are never uploaded twice, even when several threads or processes race
  for them — the losers get the winner's record.
* A failure loses nothing: the file stays in storage and the record keeps the
  error code, message and Request-ID; :func:`retry` or :func:`upload_pending`
  finish the job later.

Every entry point returns :class:`~django_wxpay_media.outcome.UploadOutcome`
values (one per item, in input order, for batches) rather than raising: what
happened (sent, reused, failed, rejected, gone, queued, busy), the record and the
error. Only bad settings (``ImproperlyConfigured``) and programming errors raise;
:func:`upload_image` is the one wrapper that raises
:class:`~django_wxpay_media.exceptions.UploadFailed` for an outcome that is not ok.

How races are settled: a new record is inserted already claimed (uploading, with
a random claim token) and the unique constraint picks the winner; an existing
record is *claimed* by a conditional ``UPDATE`` (pending/failed -> uploading, new
token) that only one caller can win. Whoever loses waits, polling, for the
outcome. No transaction is held open across the HTTP call. A claim older than
:func:`~django_wxpay_media.conf.upload_timeout` was abandoned (its process died)
and may be taken over; the final ``UPDATE`` matches the claim token, so an
attempt whose claim was taken over never overwrites the record. One new image
costs three queries: look up, insert (claimed), record the answer.

:func:`upload_stored` is the one place that decides when a stored image is
uploaded: now, or after the caller's transaction commits (the form fields use it).
When the other functions run inside the caller's own transaction (``ATOMIC_REQUESTS``,
admin change views), their writes commit with it: other processes see them only
then, and a rollback also undoes the record (the stored file remains).

The modules: :mod:`.api` (the entry points, re-exported here), :mod:`.inputs`
(reading and preparing input), :mod:`.storing` (the record and its stored file),
:mod:`.claims` (who uploads a record, and recording the answer) and
:mod:`.batches` (many at a time).
"""

from __future__ import annotations

from .api import (
    retry,
    store,
    upload,
    upload_image,
    upload_many,
    upload_queued,
    upload_stored,
    use_task_queue,
)
from .batches import upload_pending, upload_records
from .inputs import FileInput, prepare

__all__ = [
    "FileInput",
    "prepare",
    "retry",
    "store",
    "upload",
    "upload_image",
    "upload_many",
    "upload_pending",
    "upload_queued",
    "upload_records",
    "upload_stored",
    "use_task_queue",
]
