"""The public entry points: upload, store, retry and the batches; each returns outcomes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import transaction

from .. import conf, signals
from ..exceptions import UploadFailed, UploadInProgressError
from ..models import FeedbackImage
from ..outcome import UploadOutcome, UploadState
from ..wechatpay import PreparedImage
from .batches import _run_all, upload_records
from .claims import _finish, _not_retried, _perform, _retry_one, _send
from .inputs import FileInput
from .storing import _store

logger = logging.getLogger("django_wxpay_media")

Status = FeedbackImage.Status


#: Hands record pks to the task backend named (``WXPAY_MEDIA['BACKGROUND_UPLOADS']``).
#: :mod:`django_wxpay_media.tasks` sets it when it is loaded (the app loads it at
#: startup when that setting is on): the services never import the tasks that run them.
_enqueue: Callable[[list[Any], str], None] | None = None


def use_task_queue(enqueue: Callable[[list[Any], str], None] | None) -> None:
    """Have :func:`upload_stored` hand uploads to ``enqueue(pks, backend)`` (``None``: nobody)."""
    global _enqueue
    _enqueue = enqueue


def upload(
    file: FileInput | PreparedImage,
    *,
    filename: str | None = None,
    user: Any = None,
    retry_failed: bool = True,
    wait: bool = True,
    account: str | None = None,
) -> UploadOutcome:
    """Upload one image to WeChat Pay for merchant account ``account`` (default: the default
    one), or reuse that merchant's record of the same bytes.

    ``file`` is a path (``str`` or ``Path``), the bytes, an open binary file
    (``UploadedFile`` included), or what :func:`prepare` made of one. ``filename`` overrides the name taken from the
    path or file (it is normalised to what WeChat Pay accepts); ``user`` is
    recorded as ``uploaded_by`` on a new record. With ``retry_failed=False`` the
    bytes of an existing failed (or abandoned) record are not sent again: that is a
    retry, and the outcome is the record's failure (``FAILED``, or ``BUSY``); the
    admin passes it for staff without the upload permission. Bytes another caller
    is uploading right now are waited for; with ``wait=False`` (someone waiting at a
    screen) the outcome is ``BUSY`` at once.

    Returns an :class:`~django_wxpay_media.outcome.UploadOutcome`: ``SENT`` or
    ``REUSED`` (the record has its ``media_id``), ``FAILED`` (the record keeps the
    error and the file; :func:`retry` finishes it later), ``REJECTED`` (invalid
    image, unreadable path or storage failure: nothing stored, nothing sent) or
    ``BUSY``. Never raises for those; raises
    :class:`~django.core.exceptions.ImproperlyConfigured` for bad settings (before
    anything is stored) and ``TypeError`` for input of the wrong type.
    """
    stored = _store(file, filename, user, claim=True, account=account)
    if isinstance(stored, UploadOutcome):
        return stored
    image, prepared, token = stored
    client = conf.get_client(account)
    if token is not None:  # a new record, inserted already claimed by this call
        return _perform(image, prepared, client, token, source=file)
    if not retry_failed and image.status in (Status.FAILED, Status.UPLOADING):
        return _not_retried(image, source=file)
    return _finish(image, prepared, client, source=file, wait=wait)


def store(
    file: FileInput | PreparedImage,
    *,
    filename: str | None = None,
    user: Any = None,
    retry_failed: bool = True,
    account: str | None = None,
) -> UploadOutcome:
    """Validate and store ``file`` for merchant account ``account`` like :func:`upload`, but send nothing.

    ``file`` may also be the image :func:`prepare` gave (validated already, as the
    form fields do in their checks): it is stored as it is, not validated again.

    Returns ``REJECTED`` (nothing stored), ``REUSED`` (these bytes are uploaded
    already) or ``QUEUED``: the record exists (pending, or failed from an earlier
    attempt) and :func:`upload_stored` (or :func:`retry`) will upload it. With
    ``retry_failed=False`` the bytes of a failed (or abandoned) record are not
    queued again, as in :func:`upload`: the outcome is the record's failure
    (``FAILED``, or ``BUSY``). Raises like :func:`upload`. The form fields use it
    so that no upload runs inside the caller's transaction.
    """
    stored = _store(file, filename, user, claim=False, account=account)
    if isinstance(stored, UploadOutcome):
        return stored
    image, _, _ = stored
    if image.status == Status.UPLOADED:
        return UploadOutcome(UploadState.REUSED, image, source=file)
    if not retry_failed and image.status in (Status.FAILED, Status.UPLOADING):
        return _not_retried(image, source=file)
    return UploadOutcome(UploadState.QUEUED, image, source=file)


def upload_stored(
    outcomes: Sequence[UploadOutcome],
    *,
    on_done: Callable[[list[UploadOutcome]], None] | None = None,
) -> list[UploadOutcome]:
    """Upload the ``QUEUED`` records of ``outcomes`` (from :func:`store`) at the right time.

    This is the one place that decides *when* an upload runs:

    * no transaction open: right now, ``WXPAY_MEDIA['CONCURRENCY']`` at a time;
    * inside a transaction (``ATOMIC_REQUESTS``, the admin's views): once it has
      committed (``transaction.on_commit``), so that no transaction or lock is held
      during the HTTP call, and other processes can see the records;
    * with ``WXPAY_MEDIA['BACKGROUND_UPLOADS']`` on: not here at all. Each record's
      pk is enqueued on the task backend (:mod:`django_wxpay_media.tasks`), now or
      once the transaction has committed, and a worker uploads it. If the backend
      cannot take the tasks, the uploads run here instead (and the error is logged).

    Returns the outcomes known now, in the order given: the final ones when the
    uploads ran right away, else ``QUEUED`` for those still to run. ``on_done`` is
    called with the final outcomes (same order) when the uploads have finished -
    right away, or after the commit - and
    :data:`~django_wxpay_media.signals.uploads_finished` is sent with them; when
    they went to a task worker, ``on_done`` is called with the ``QUEUED`` outcomes
    once they are enqueued (the worker sends only the per-image signals). If the
    transaction is rolled back, nothing is uploaded or enqueued and ``on_done`` is
    not called.
    """
    items = list(outcomes)

    def run() -> list[UploadOutcome]:
        queued = [o.record for o in items if o.state is UploadState.QUEUED and o.record is not None]
        try:
            finished = iter(upload_records(queued))
        except Exception as exc:  # after a commit there is no one to raise to: log, and say so
            logger.error("Deferred upload of %d feedback image(s) failed to run: %s", len(queued), exc, exc_info=exc)
            failed = [UploadOutcome(UploadState.FAILED, record, exc) for record in queued]
            finished = iter(failed)
        final = [
            _with_source(next(finished), o.source) if o.state is UploadState.QUEUED and o.record is not None else o
            for o in items
        ]
        if on_done is not None:
            on_done(final)
        _send(signals.uploads_finished, outcomes=final)
        return final

    if not any(o.state is UploadState.QUEUED for o in items):
        return run()
    backend = conf.background_uploads_backend()

    def start() -> list[UploadOutcome]:
        if backend is None:
            return run()
        queued = [o.record.pk for o in items if o.state is UploadState.QUEUED and o.record is not None]
        try:
            if _enqueue is None:  # django_wxpay_media.tasks not loaded: no task framework
                raise RuntimeError("no task framework is installed (django_wxpay_media.tasks is not loaded)")
            _enqueue(queued, backend)
        except Exception as exc:  # no framework, or the backend is down: upload here, lose nothing
            logger.error(
                "Cannot enqueue the upload of %d feedback image(s) on task backend %r; uploading now: %s",
                len(queued),
                backend,
                exc,
                exc_info=exc,
            )
            return run()
        if on_done is not None:
            on_done(items)
        return items

    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        return start()
    # robust: a failing receiver or upload must not turn the committed request into an error page.
    transaction.on_commit(start, robust=True)
    return items


def upload_queued(image_pk: Any) -> UploadOutcome:
    """Upload the record with primary key ``image_pk``: what the background task runs.

    Like :func:`retry`: a record uploaded meanwhile is ``REUSED`` (nothing sent),
    one another worker is sending is waited for, a deleted one is ``GONE`` (with
    ``record`` ``None``). So the task is safe to run twice, or twice at once.
    Raises only :class:`~django.core.exceptions.ImproperlyConfigured`.
    """
    image = FeedbackImage.objects.filter(pk=image_pk).first()
    if image is None:
        logger.info("FeedbackImage %s was deleted before it could be uploaded.", image_pk)
        return UploadOutcome(UploadState.GONE, None, source=image_pk)
    return retry(image)


def _with_source(outcome: UploadOutcome, source: Any) -> UploadOutcome:
    return UploadOutcome(outcome.state, outcome.record, outcome.error, source=source)


def upload_image(
    file: FileInput, *, filename: str | None = None, user: Any = None, account: str | None = None
) -> FeedbackImage:
    """:func:`upload` (for merchant account ``account``), for code that wants the record or an exception.

    Returns the record (status ``uploaded``, with ``media_id``). Raises
    :class:`~django_wxpay_media.exceptions.UploadFailed` for any outcome that is
    not ok: ``exc.outcome`` says what happened, ``exc.error`` why, ``exc.image``
    is the record kept (``None`` when nothing was stored). Raises
    :class:`~django.core.exceptions.ImproperlyConfigured` for bad settings.
    """
    return _record_or_raise(upload(file, filename=filename, user=user, account=account))


def retry(image: FeedbackImage) -> UploadOutcome:
    """Finish a pending or failed record by uploading its stored file (through the account it was stored for).

    An uploaded record is ``REUSED`` (no request); a deleted one ``GONE``. A record
    another caller is uploading is waited for (its outcome shared); one whose upload
    was abandoned long ago is taken over. ``image`` is refreshed in place.
    Raises only :class:`~django.core.exceptions.ImproperlyConfigured`.
    """
    return _retry_one(image)


def upload_many(
    files: Iterable[FileInput],
    *,
    user: Any = None,
    retry_failed: bool = True,
    wait: bool = True,
    account: str | None = None,
) -> list[UploadOutcome]:
    """:func:`upload` each of ``files`` for merchant account ``account``, ``WXPAY_MEDIA['CONCURRENCY']`` at a time.

    Returns one outcome per file, in the order given (``outcome.source`` is the
    file); a file that fails does not stop the others. Configuration problems
    raise before anything is stored. ``files`` may be a generator: it is read as
    the workers need more, never all at once. Interrupted (``KeyboardInterrupt``),
    the batch stops taking files, lets the uploads under way finish and record
    their outcome, then re-raises. ``retry_failed`` and ``wait`` are :func:`upload`'s.
    """
    conf.get_client(account)  # a settings problem stops the batch here, not once per file
    return _run_all(
        lambda item: upload(item, user=user, retry_failed=retry_failed, wait=wait, account=account), files, account
    )


def _record_or_raise(outcome: UploadOutcome) -> FeedbackImage:
    if outcome.ok and outcome.record is not None:
        return outcome.record
    error = outcome.error or UploadInProgressError("The upload did not finish.")
    raise UploadFailed(outcome.record, error, outcome=outcome) from error
