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
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import logging
import os
import posixpath
import queue
import secrets
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Generic, TypeVar, Union

from django.core.files import File
from django.core.files.base import ContentFile
from django.db import DatabaseError, IntegrityError, connections, router, transaction
from django.db.models import F, Q, QuerySet
from django.dispatch import Signal
from django.utils import timezone

from . import conf, signals
from .exceptions import (
    FileUnreadableError,
    MerchantMismatchError,
    RecordedError,
    RecordSaveError,
    StorageError,
    StoredFileChangedError,
    StoredFileError,
    StoredFileMissingError,
    UploadFailed,
    UploadInProgressError,
)
from .models import FeedbackImage
from .outcome import UploadOutcome, UploadState
from .wechatpay import (
    MAX_IMAGE_SIZE,
    PreparedImage,
    UploadResult,
    WeChatPayClient,
    errors,
    prepare_file,
    prepare_image,
)
from .wechatpay.validation import check_size

logger = logging.getLogger("django_wxpay_media")

#: What :func:`upload_image` accepts: a path, the bytes, or an open binary file
#: (including Django's ``File``/``UploadedFile``).
FileInput = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes], File]

Status = FeedbackImage.Status
_T = TypeVar("_T")
_R = TypeVar("_R")

# Polling while another caller uploads: start quick (uploads usually take well
# under a second), back off to keep the database quiet on slow ones.
_POLL_FIRST = 0.05
_POLL_MAX = 0.5
# How often a caller goes back to claiming after waiting; each wait is bounded
# by conf.upload_timeout(), so this only guards against a pathological loop.
_MAX_ROUNDS = 3
# upload_pending() reads this many records per query while the workers upload.
_PAGE_SIZE = 100
# Batch threads beyond CONCURRENCY: they read and claim the next records while
# CONCURRENCY requests are on the wire (the client bounds those). One is enough to
# hide the database and file work (200 images at 50 ms: 1.3-1.8x the ideal without,
# 1.1-1.2x with); a path or stored file is held a chunk at a time, not whole.
_PREPARE_AHEAD = 1


# -- public API -----------------------------------------------------------------------


def upload(
    file: FileInput, *, filename: str | None = None, user: Any = None, retry_failed: bool = True
) -> UploadOutcome:
    """Upload one image to WeChat Pay, or reuse the record of the same bytes.

    ``file`` is a path (``str`` or ``Path``), the bytes, or an open binary file
    (``UploadedFile`` included). ``filename`` overrides the name taken from the
    path or file (it is normalised to what WeChat Pay accepts); ``user`` is
    recorded as ``uploaded_by`` on a new record. With ``retry_failed=False`` the
    bytes of an existing failed (or abandoned) record are not sent again: that is a
    retry, and the outcome is the record's failure (``FAILED``, or ``BUSY``); the
    admin passes it for staff without the upload permission.

    Returns an :class:`~django_wxpay_media.outcome.UploadOutcome`: ``SENT`` or
    ``REUSED`` (the record has its ``media_id``), ``FAILED`` (the record keeps the
    error and the file; :func:`retry` finishes it later), ``REJECTED`` (invalid
    image, unreadable path or storage failure: nothing stored, nothing sent) or
    ``BUSY``. Never raises for those; raises
    :class:`~django.core.exceptions.ImproperlyConfigured` for bad settings (before
    anything is stored) and ``TypeError`` for input of the wrong type.
    """
    stored = _store(file, filename, user, claim=True)
    if isinstance(stored, UploadOutcome):
        return stored
    image, prepared, token = stored
    client = conf.get_client()
    if token is not None:  # a new record, inserted already claimed by this call
        return _perform(image, prepared, client, token, source=file)
    if not retry_failed and image.status in (Status.FAILED, Status.UPLOADING):
        return _not_retried(image, source=file)
    return _finish(image, prepared, client, source=file)


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


def store(
    file: FileInput, *, filename: str | None = None, user: Any = None, retry_failed: bool = True
) -> UploadOutcome:
    """Validate and store ``file`` like :func:`upload`, but send nothing.

    Returns ``REJECTED`` (nothing stored), ``REUSED`` (these bytes are uploaded
    already) or ``QUEUED``: the record exists (pending, or failed from an earlier
    attempt) and :func:`upload_stored` (or :func:`retry`) will upload it. With
    ``retry_failed=False`` the bytes of a failed (or abandoned) record are not
    queued again, as in :func:`upload`: the outcome is the record's failure
    (``FAILED``, or ``BUSY``). Raises like :func:`upload`. The form fields use it
    so that no upload runs inside the caller's transaction.
    """
    stored = _store(file, filename, user, claim=False)
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
    wait_for_commit: bool = True,
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

    ``wait_for_commit=False`` is for callers that open no transaction of their own
    and run outside ``ATOMIC_REQUESTS`` (the admin's add view and action): a
    transaction around them can only be a test's, and they act at once, as they
    do in production.
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
            from . import tasks  # imports the task framework: only where uploads go to workers

            tasks.enqueue_uploads(queued, backend=backend)
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
    if not connection.in_atomic_block or not wait_for_commit:
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


def _store(
    file: FileInput, filename: str | None, user: Any, *, claim: bool
) -> UploadOutcome | tuple[FeedbackImage, PreparedImage, str | None]:
    """Validate and store: the record, content and claim token, or a ``REJECTED`` outcome.

    With ``claim``, a new record is inserted already claimed by this caller (its
    token is returned); an existing record comes back with no token.
    """
    try:
        prepared = _prepare_input(file, filename)
    except errors.ImageValidationError as exc:
        return UploadOutcome(UploadState.REJECTED, None, exc, source=file)
    except OSError as exc:
        unreadable = FileUnreadableError(f"Cannot read {file!r}: {exc}", reason=exc.strerror or str(exc))
        unreadable.__cause__ = exc
        return UploadOutcome(UploadState.REJECTED, None, unreadable, source=file)
    conf.get_client()  # bad settings raise here, before anything is stored
    try:
        image, created, prepared = _find_or_create(prepared, conf.get_mchid(), user, claim=claim)
        token = image.claim_token if created and claim else None
        if not created and image.status != Status.UPLOADED:
            prepared = _restore_file(image, prepared)
    except OSError as exc:
        logger.error("Cannot store %r for upload to WeChat Pay: %s", prepared.filename, exc, exc_info=exc)
        failure = StorageError(f"Cannot store {prepared.filename!r}: {exc}")
        failure.__cause__ = exc
        return UploadOutcome(UploadState.REJECTED, None, failure, source=file)
    return image, prepared, token


def upload_image(file: FileInput, *, filename: str | None = None, user: Any = None) -> FeedbackImage:
    """:func:`upload`, for code that wants the record or an exception.

    Returns the record (status ``uploaded``, with ``media_id``). Raises
    :class:`~django_wxpay_media.exceptions.UploadFailed` for any outcome that is
    not ok: ``exc.outcome`` says what happened, ``exc.error`` why, ``exc.image``
    is the record kept (``None`` when nothing was stored). Raises
    :class:`~django.core.exceptions.ImproperlyConfigured` for bad settings.
    """
    return _record_or_raise(upload(file, filename=filename, user=user))


def retry(image: FeedbackImage) -> UploadOutcome:
    """Finish a pending or failed record by uploading its stored file.

    An uploaded record is ``REUSED`` (no request); a deleted one ``GONE``. A record
    another caller is uploading is waited for (its outcome shared); one whose upload
    was abandoned long ago is taken over. ``image`` is refreshed in place.
    Raises only :class:`~django.core.exceptions.ImproperlyConfigured`.
    """
    return _retry_one(image, conf.get_client())


def upload_many(files: Iterable[FileInput], *, user: Any = None) -> list[UploadOutcome]:
    """:func:`upload` each of ``files``, ``WXPAY_MEDIA['CONCURRENCY']`` at a time.

    Returns one outcome per file, in the order given (``outcome.source`` is the
    file); a file that fails does not stop the others. Configuration problems
    raise before anything is stored. ``files`` may be a generator: it is read as
    the workers need more, never all at once. Interrupted (``KeyboardInterrupt``),
    the batch stops taking files, lets the uploads under way finish and record
    their outcome, then re-raises.
    """
    conf.get_client()  # a settings problem stops the batch here, not once per file
    return _run_all(lambda item: upload(item, user=user), files)


def upload_records(images: Iterable[FeedbackImage]) -> list[UploadOutcome]:
    """:func:`retry` each record, ``WXPAY_MEDIA['CONCURRENCY']`` at a time; one outcome each, in order.

    Each record is saved as soon as its upload finishes, so a batch stopped half
    way (see :func:`upload_many`) loses nothing. ``images`` may be a generator
    (:func:`upload_pending` pages through the table). Configuration problems raise
    :class:`~django.core.exceptions.ImproperlyConfigured` before anything is sent.
    """
    client = conf.get_client()
    return _run_all(lambda image: _retry_one(image, client), images)


def upload_pending(*, include_failed: bool = True) -> list[UploadOutcome]:
    """Upload every record of the configured merchant that is not uploaded yet.

    Takes pending records, failed ones unless ``include_failed`` is false, and
    uploads abandoned long ago (see :func:`~django_wxpay_media.conf.upload_timeout`);
    oldest first, ``WXPAY_MEDIA['CONCURRENCY']`` at a time. The records are read a
    page at a time while the workers upload, not all loaded first; each is taken
    once per call, even if its upload fails again.
    """
    statuses = [Status.PENDING, Status.FAILED] if include_failed else [Status.PENDING]
    cutoff = timezone.now() - conf.upload_timeout()
    queryset = FeedbackImage.objects.filter(mchid=conf.get_mchid()).filter(
        Q(status__in=statuses) | Q(status=Status.UPLOADING, upload_started_at__lt=cutoff)
    )
    return upload_records(_pages(queryset))


def _pages(queryset: QuerySet[FeedbackImage]) -> Iterator[FeedbackImage]:
    """``queryset`` oldest first, one page (one short query) at a time.

    Keyset pagination on (created_at, pk) rather than ``iterator()``: no cursor stays
    open while the workers write (on SQLite an open read would hold off every
    writer), and a record whose status changes under us is neither skipped nor
    taken twice.
    """
    after: FeedbackImage | None = None
    while True:
        page = queryset
        if after is not None:
            page = page.filter(Q(created_at__gt=after.created_at) | Q(created_at=after.created_at, pk__gt=after.pk))
        records = list(page.order_by("created_at", "pk")[:_PAGE_SIZE])
        yield from records
        if len(records) < _PAGE_SIZE:
            return
        after = records[-1]


def _record_or_raise(outcome: UploadOutcome) -> FeedbackImage:
    if outcome.ok and outcome.record is not None:
        return outcome.record
    error = outcome.error or UploadInProgressError("The upload did not finish.")
    raise UploadFailed(outcome.record, error, outcome=outcome) from error


# -- reading input ----------------------------------------------------------------------


def _basename(name: Any) -> str | None:
    if not isinstance(name, str) or not name:
        return None
    return posixpath.basename(name.replace("\\", "/")) or None


def _prepare_input(file: Any, filename: str | None) -> PreparedImage:
    """``file`` validated. A regular file on disk is validated a chunk at a time and
    read again from its path when it is stored, never held whole in memory; bytes
    and open files (in memory already, or streams that cannot be read twice) are read whole.
    """
    if isinstance(file, (str, os.PathLike)):
        path = Path(file)
        info = path.stat()
        if stat.S_ISREG(info.st_mode) and info.st_size > 0:  # not a FIFO or /dev/stdin (size 0)
            check_size(info.st_size)
            with path.open("rb") as fh:
                return prepare_file(fh, filename or path.name, opener=_SourcePath(path, fh))
    data, name = _read_input(file, filename)
    return prepare_image(data, name)


def _read_input(file: Any, filename: str | None) -> tuple[bytes, str | None]:
    """The bytes and the name to validate. Never reads much more than the size limit."""
    if isinstance(file, (bytes, bytearray, memoryview)):
        return bytes(file), filename
    if isinstance(file, (str, os.PathLike)):
        path = Path(file)
        size = path.stat().st_size
        check_size(size)  # before reading a huge file into memory
        with path.open("rb") as fh:  # a FIFO or /dev/stdin reports size 0: read it like a stream
            return _read_stream(fh, size_hint=size), filename or path.name
    if not hasattr(file, "read"):
        raise TypeError(f"Cannot upload a {type(file).__name__}: give a path, bytes or an open binary file.")
    name = filename or _basename(getattr(file, "name", None))
    known_size = getattr(file, "size", None) if isinstance(file, File) else None
    if isinstance(known_size, int) and known_size > MAX_IMAGE_SIZE:
        check_size(known_size)
    rewound = _rewind(file)  # like File.chunks(): a form field may have read it already
    data = _read_stream(file)
    if rewound:
        _rewind(file)  # leave it as a form would expect
    return data, name


def _rewind(file: Any) -> bool:
    """Seek ``file`` to its start if it can seek (a pipe or socket cannot); True if it did."""
    seek = getattr(file, "seek", None)
    if not callable(seek):
        return False
    seekable = getattr(file, "seekable", None)
    try:
        if callable(seekable) and not seekable():
            return False
        seek(0)
    except (OSError, ValueError):  # io.UnsupportedOperation is both
        return False
    return True


#: How much one ``read()`` asks for: the size limit is read in a few calls.
_CHUNK = 1 << 20


def _read_stream(file: Any, *, size_hint: int = 0) -> bytes:
    """Everything ``file.read()`` gives until EOF, refusing more than the size limit.

    ``read(n)`` may return fewer than ``n`` bytes before the end (pipes, sockets,
    raw files, some wrappers): keep reading until it returns nothing. A file whose
    size is known (``size_hint``) is read in one call, and a file that came in one
    piece is returned as that piece: no second copy of the image in memory.
    """
    chunks: list[bytes] = []
    total = 0
    first = min(size_hint + 1, MAX_IMAGE_SIZE + 1) if size_hint > 0 else _CHUNK
    while True:
        chunk = file.read(first if not chunks else min(_CHUNK, MAX_IMAGE_SIZE + 1 - total))
        if chunk is None:  # a non-blocking stream with nothing to read now: we cannot wait for it
            raise BlockingIOError(errno.EAGAIN, "the stream has no data ready (non-blocking)")
        if isinstance(chunk, str):
            raise TypeError("The file is open in text mode; open it in binary mode ('rb').")
        if not chunk:
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.append(bytes(chunk))  # the same object when it is bytes already
        total += len(chunk)
        if total > MAX_IMAGE_SIZE:
            # Too large: count the rest (a chunk at a time) so the message gives the real size.
            check_size(total + sum(len(rest) for rest in iter(lambda: file.read(_CHUNK) or b"", b"")))


# -- the record ------------------------------------------------------------------------


def _user_or_none(user: Any) -> Any:
    if user is None or not getattr(user, "is_authenticated", False) or getattr(user, "pk", None) is None:
        return None
    return user


def _find_or_create(
    prepared: PreparedImage, mchid: str, user: Any, *, claim: bool
) -> tuple[FeedbackImage, bool, PreparedImage]:
    """The record for these bytes, whether this call created it (file stored first),
    and the content to send (read from the stored file when it came from a file).

    With ``claim`` a new record is inserted already claimed by this call
    (uploading, attempt 1, a new ``claim_token``): no second query to claim it.
    """
    existing = FeedbackImage.objects.filter(mchid=mchid, sha256=prepared.sha256).first()
    if existing is not None:
        return existing, False, prepared
    image = FeedbackImage(
        filename=prepared.filename,
        sha256=prepared.sha256,
        size=prepared.size,
        content_type=prepared.content_type,
        mchid=mchid,
        uploaded_by=_user_or_none(user),
    )
    if claim:
        image.status = Status.UPLOADING
        image.attempts = 1
        image.upload_started_at = timezone.now()
        image.claim_token = _new_token()
    # Store the file before the row exists, so that no record points at nothing. The
    # stored name is random (see feedback_image_upload_to), not the name sent.
    stored = _save_file(image, prepared)
    try:
        with _savepoint():
            image.save(force_insert=True)
    except IntegrityError:
        # Most likely another caller inserted the same bytes first: use theirs.
        _delete_stored(image.file.name)
        winner = FeedbackImage.objects.filter(mchid=mchid, sha256=prepared.sha256).first()
        if winner is None:
            raise  # some other constraint; not a race we can settle
        logger.debug("Reusing FeedbackImage %s for sha256 %s (created concurrently).", winner.pk, prepared.sha256)
        return winner, False, prepared
    except BaseException:
        _delete_stored(image.file.name)
        raise
    return image, True, stored


class _SourcePath:
    """Opens a validated file again, refusing it if it changed since it was validated.

    A path is read again to be stored; rather than hash it a second time (a
    millisecond per 2 MiB), its identity (device, inode, size, modification and
    change times) is compared with what it was when it was validated, as ``make``
    and ``rsync`` decide whether a file changed.
    """

    def __init__(self, path: Path, validated: IO[bytes]) -> None:
        self.path = path
        self.identity = self._identity(validated)

    @staticmethod
    def _identity(handle: IO[bytes]) -> tuple[int, ...]:
        info = os.fstat(handle.fileno())
        return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)

    def unchanged(self, handle: IO[bytes]) -> bool:
        return self._identity(handle) == self.identity

    def __call__(self) -> IO[bytes]:
        handle = self.path.open("rb")
        if not self.unchanged(handle):
            handle.close()
            raise OSError(f"{self.path.name!r} changed after it was validated; nothing was kept.")
        return handle


def _save_file(image: FeedbackImage, prepared: PreparedImage) -> PreparedImage:
    """Store ``prepared`` as ``image.file``; the content to send from now on.

    Bytes are stored as they are. A file is stored from the file, a chunk at a time
    (``storage.save`` of a ``File`` reads its ``chunks()``), and from then on read
    from the stored copy; ``OSError`` if the file changed since it was validated.
    """
    if prepared.opener is None:
        image.file.save(prepared.filename, ContentFile(prepared.data), save=False)
        return prepared
    with prepared.opener() as fh:
        image.file.save(prepared.filename, File(fh, name=prepared.filename), save=False)
        changed = isinstance(prepared.opener, _SourcePath) and not prepared.opener.unchanged(fh)
    if changed:  # written to while it was stored
        _delete_stored(image.file.name)
        raise OSError(f"{prepared.filename!r} changed while it was stored; nothing was kept.")
    storage, name = image.file.storage, str(image.file.name)
    return prepared.reading_from(lambda: storage.open(name, "rb"))


def _savepoint() -> contextlib.AbstractContextManager[Any]:
    """A savepoint inside the caller's transaction, nothing in autocommit.

    Inside a transaction a failed statement (a lost race, a bad value) must not
    break the caller's transaction; in autocommit each statement stands alone
    already, and the unique constraint settles races without a transaction.
    """
    using = router.db_for_write(FeedbackImage)
    if transaction.get_connection(using).in_atomic_block:
        return transaction.atomic(using=using)
    return contextlib.nullcontext()


def _new_token() -> str:
    return secrets.token_hex(16)


def _restore_file(image: FeedbackImage, prepared: PreparedImage) -> PreparedImage:
    """Store the bytes again if the record's file went missing: the caller has them.

    Returns the content to send (read from the new stored file when it came from a file).
    """
    storage = conf.get_storage()
    if image.file.name and storage.exists(image.file.name):
        return prepared
    prepared = _save_file(image, prepared)
    FeedbackImage.objects.filter(pk=image.pk).update(file=image.file.name)
    logger.info("Stored FeedbackImage %s again as %s (its file was missing).", image.pk, image.file.name)
    return prepared


def _delete_stored(name: str | None) -> None:
    if not name:
        return
    try:
        conf.get_storage().delete(name)
    except Exception:  # an orphan file is harmless; a crash here would hide the real error
        logger.warning("Could not delete the unused stored file %r.", name, exc_info=True)


def _merchant_mismatch(image: FeedbackImage) -> MerchantMismatchError | None:
    current = conf.get_mchid()
    if image.mchid == current:
        return None
    # Signing another merchant's record with this merchant's key would mix up media_ids.
    return MerchantMismatchError(
        f"FeedbackImage {image.pk} belongs to merchant {image.mchid}, but WXPAY_MEDIA['MCHID'] is {current}.",
        mchid=image.mchid,
        current=current,
    )


# -- claiming and uploading -------------------------------------------------------------


def _claim(image: FeedbackImage, stale_after: Any) -> str | None:
    """Take the right to upload ``image``: its new claim token, for exactly one concurrent caller.

    ``image`` is updated in place with what the ``UPDATE`` wrote (no re-read; its
    ``attempts`` is the count this caller knew, plus one).
    """
    now = timezone.now()
    token = _new_token()
    claimable = (
        Q(status__in=[Status.PENDING, Status.FAILED])
        | Q(status=Status.UPLOADING, upload_started_at__lt=now - stale_after)
        | Q(status=Status.UPLOADING, upload_started_at__isnull=True)
    )
    claimed = FeedbackImage.objects.filter(claimable, pk=image.pk).update(
        status=Status.UPLOADING, attempts=F("attempts") + 1, upload_started_at=now, claim_token=token
    )
    if claimed != 1:
        return None
    image.status, image.upload_started_at, image.claim_token = Status.UPLOADING, now, token
    image.attempts += 1
    return token


def _wait_for_other(image: FeedbackImage, stale_after: Any) -> FeedbackImage:
    """Poll until ``image`` is no longer being uploaded, or its claim goes stale."""
    delay = _POLL_FIRST
    while True:
        image.refresh_from_db()
        if image.status != Status.UPLOADING:
            return image
        started = image.upload_started_at
        if started is None or timezone.now() >= started + stale_after:
            return image
        time.sleep(delay)
        delay = min(delay * 2, _POLL_MAX)


def _finish(
    image: FeedbackImage, prepared: PreparedImage | None, client: WeChatPayClient, *, source: Any
) -> UploadOutcome:
    """Make sure ``image`` gets uploaded; the outcome says whether *this* call sent it.

    ``prepared`` is the validated content when the caller has it; otherwise the
    stored file is read (after the claim, so a waiting caller never reads it).
    """
    stale_after = conf.upload_timeout()
    for _ in range(_MAX_ROUNDS):
        if image.status == Status.UPLOADED:
            return UploadOutcome(UploadState.REUSED, image, source=source)
        token = _claim(image, stale_after)
        if token is not None:
            return _perform(image, prepared, client, token, source=source)
        image = _wait_for_other(image, stale_after)
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
        image = _wait_for_other(image, conf.upload_timeout())
    except FeedbackImage.DoesNotExist:
        return UploadOutcome(UploadState.GONE, image, source=source)
    if image.status == Status.UPLOADED:
        return UploadOutcome(UploadState.REUSED, image, source=source)
    if image.status in (Status.PENDING, Status.FAILED):
        token = _claim(image, conf.upload_timeout())
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


def _load_stored(image: FeedbackImage) -> PreparedImage:
    """The stored file, validated again and checked against the record's digest."""
    name = image.file.name
    storage = conf.get_storage()
    if not name or not storage.exists(name):
        raise StoredFileMissingError(f"The stored file {name!r} of FeedbackImage {image.pk} is missing.")
    try:
        with storage.open(name, "rb") as fh:
            if _seekable(fh):
                # Checked a chunk at a time; sent from the file (opened again for each attempt).
                prepared = prepare_file(fh, image.filename, opener=lambda: storage.open(name, "rb"))
            else:
                prepared = prepare_image(fh.read(), image.filename)
    except FileNotFoundError:
        raise StoredFileMissingError(f"The stored file {name!r} of FeedbackImage {image.pk} is missing.") from None
    except OSError as exc:
        raise StoredFileError(f"The stored file {name!r} of FeedbackImage {image.pk} cannot be read: {exc}.") from exc
    if prepared.sha256 != image.sha256:
        raise StoredFileChangedError(
            f"The stored file {name!r} of FeedbackImage {image.pk} no longer matches its sha256 {image.sha256}."
        )
    return prepared


def _seekable(file: Any) -> bool:
    try:
        return bool(file.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _retry_one(image: FeedbackImage, client: WeChatPayClient) -> UploadOutcome:
    try:
        image.refresh_from_db()
    except FeedbackImage.DoesNotExist:
        logger.info("FeedbackImage %s was deleted before it could be uploaded.", image.pk)
        return UploadOutcome(UploadState.GONE, image, source=image)
    if image.status == Status.UPLOADED:
        return UploadOutcome(UploadState.REUSED, image, source=image)
    mismatch = _merchant_mismatch(image)
    if mismatch is not None:
        return UploadOutcome(UploadState.FAILED, image, mismatch, source=image)
    return _finish(image, None, client, source=image)


# -- plumbing ----------------------------------------------------------------------------


def _send(signal: Signal, **kwargs: Any) -> None:
    # The record is saved already; a broken receiver must not turn the outcome around.
    for receiver, response in signal.send_robust(sender=FeedbackImage, **kwargs):
        if isinstance(response, Exception):
            logger.error("Receiver %r of a django_wxpay_media signal failed: %s", receiver, response, exc_info=response)


def _run_all(func: Callable[[_T], _R], items: Iterable[_T]) -> list[_R]:
    """``[func(item) for item in items]``, ``CONCURRENCY`` requests at a time when that is safe.

    ``CONCURRENCY`` + ``_PREPARE_AHEAD`` threads run ``func``; the shared client lets
    only ``CONCURRENCY`` of them have a request on the wire at a time. The items
    are handed to the threads as they are free (a generator is read lazily, a few
    items ahead). Each worker thread keeps its database connection
    for the whole batch and closes it once at the end. On ``KeyboardInterrupt``
    (or any other exception escaping ``func``) no new item is started; the items
    under way finish, so their records say what happened, and the exception is
    re-raised.
    """
    workers = int(conf.get_setting("CONCURRENCY"))
    # Rows written in the caller's open transaction are invisible to other
    # connections, so inside one everything runs here, one after the other.
    if workers <= 1 or transaction.get_connection().in_atomic_block:
        return [func(item) for item in items]
    source = iter(items)
    head = list(itertools.islice(source, workers + _PREPARE_AHEAD))
    if len(head) <= 1:  # nothing to overlap: no threads, no extra connection
        return [func(item) for item in itertools.chain(head, source)]
    return _Batch(func, len(head), conf.get_client(), in_flight=workers).run(itertools.chain(head, source))


class _Batch(Generic[_T, _R]):
    """Worker threads fed through a short queue; results kept by position."""

    def __init__(self, func: Callable[[_T], _R], workers: int, client: WeChatPayClient, *, in_flight: int) -> None:
        self.func = func
        self.workers = workers
        self.client = client
        # At most CONCURRENCY requests on the wire; the other threads prepare their next image.
        self.slots = threading.BoundedSemaphore(in_flight)
        # A short queue: items are read from the source only as workers get free.
        self.todo: queue.Queue[tuple[int, _T]] = queue.Queue(maxsize=workers)
        self.results: dict[int, _R] = {}
        self.fed = threading.Event()  # every item is in the queue
        self.stop = threading.Event()  # start no more items
        self.failure: BaseException | None = None
        self.lock = threading.Lock()

    def run(self, items: Iterator[_T]) -> list[_R]:
        threads = [threading.Thread(target=self._work, name=f"wxpay-upload-{n}") for n in range(self.workers)]
        for thread in threads:
            thread.start()
        count = 0
        try:
            for index, item in enumerate(items):
                if not self._put((index, item)):
                    break
                count = index + 1
        except BaseException as exc:  # noqa: BLE001 - Ctrl-C or a failing source: re-raised below, after the uploads under way finish
            self._fail(exc)
        finally:
            self.fed.set()
            self._wait(threads)
        if self.failure is not None:
            raise self.failure
        return [self.results[index] for index in range(count)]

    def _put(self, entry: tuple[int, _T]) -> bool:
        # Short timeouts, so that the main thread notices Ctrl-C and a stopped batch.
        while not self.stop.is_set():
            try:
                self.todo.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _wait(self, threads: list[threading.Thread]) -> None:
        for thread in threads:
            while thread.is_alive():
                try:
                    thread.join(0.1)  # in short steps: a blocked join() would not see Ctrl-C
                except BaseException as exc:
                    if self.failure is not None:
                        raise  # a second Ctrl-C: stop waiting (claims under way go stale)
                    self._fail(exc)  # the first: finish the uploads under way, start no more

    def _fail(self, exc: BaseException) -> None:
        with self.lock:
            if self.failure is None:
                self.failure = exc
        self.stop.set()

    def _work(self) -> None:
        try:
            with self.client.requests_in_flight(self.slots):
                self._work_through()
        finally:
            connections.close_all()  # once per worker thread, not once per item

    def _work_through(self) -> None:
        while not self.stop.is_set():
            try:
                index, item = self.todo.get(timeout=0.1)
            except queue.Empty:
                if self.fed.is_set():
                    return  # everything was taken
                continue
            try:
                self.results[index] = self.func(item)
            except BaseException as exc:  # noqa: BLE001 - a bug or an interrupt: stops the batch, re-raised in the caller
                self._fail(exc)
