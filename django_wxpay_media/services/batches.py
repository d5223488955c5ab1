"""The batch runner: many records or files, ``CONCURRENCY`` requests at a time."""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar, cast

from django.db import connections, transaction
from django.db.models import Q, QuerySet

from .. import conf
from ..models import FeedbackImage
from ..outcome import UploadOutcome
from ..wechatpay import WeChatPayClient
from .claims import _retry_one

_T = TypeVar("_T")
_R = TypeVar("_R")

# upload_pending() reads this many records per query while the workers upload.
_PAGE_SIZE = 100
# Batch threads beyond CONCURRENCY: they read and claim the next records while
# CONCURRENCY requests are on the wire (the client bounds those). One is enough to
# hide the database and file work (200 images at 50 ms: 1.3-1.8x the ideal without,
# 1.1-1.2x with); a path or stored file is held a chunk at a time, not whole.
_PREPARE_AHEAD = 1


def upload_records(
    images: Iterable[FeedbackImage], *, retry_failed: bool = True, wait: bool = True, account: str | None = None
) -> list[UploadOutcome]:
    """:func:`retry` each record, ``WXPAY_MEDIA['CONCURRENCY']`` at a time; one outcome each, in order.

    Each record is saved as soon as its upload finishes, so a batch stopped half
    way (see :func:`upload_many`) loses nothing. ``images`` may be a generator
    (:func:`upload_pending` pages through the table). Configuration problems raise
    :class:`~django.core.exceptions.ImproperlyConfigured` before anything is sent.

    For someone waiting at a screen (the complaint desk's reply): with
    ``retry_failed=False`` a failed or abandoned record is reported (``FAILED``), not
    sent again, as :func:`upload` does; with ``wait=False`` a record another caller
    is uploading right now is ``BUSY`` at once rather than waited for.

    Each record is sent through the account it was stored for; with ``account``
    (a complaint reply) every record must be that account's media, and another
    merchant's is ``FAILED`` (:class:`~django_wxpay_media.exceptions.MerchantMismatchError`).
    """
    conf.get_client(account)  # a settings problem raises before anything is sent
    return _run_all(
        lambda image: _retry_one(image, retry_failed=retry_failed, wait=wait, account=account), images, account
    )


def upload_pending(*, include_failed: bool = True, account: str | None = None) -> list[UploadOutcome]:
    """Upload every record of merchant account ``account`` (default: the default one) not uploaded yet.

    Takes pending records, failed ones unless ``include_failed`` is false, and
    uploads abandoned long ago (see :func:`~django_wxpay_media.conf.upload_timeout`);
    oldest first, ``WXPAY_MEDIA['CONCURRENCY']`` at a time. The records are read a
    page at a time while the workers upload, not all loaded first; each is taken
    once per call, even if its upload fails again.
    """
    mchid = conf.get_account(account).mchid
    queryset = FeedbackImage.objects.takeable(include_failed=include_failed).filter(mchid=mchid)
    return upload_records(_pages(queryset), account=account or conf.DEFAULT_ACCOUNT)


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


def run_all(func: Callable[[_T], _R], items: Iterable[_T], account: str | None = None) -> list[_R]:
    """``[func(item) for item in items]``, ``CONCURRENCY`` requests on ``account``'s shared client at a time.

    The batch runner of the uploads and of the complaint sync: worker threads with a
    database connection each (closed when the worker ends), sharing the client's
    429 pause; ``items`` may be a lazy generator (read in the calling thread, a few
    items ahead of the workers).
    """
    return _run_all(func, items, account)


def _run_all(func: Callable[[_T], _R], items: Iterable[_T], account: str | None = None) -> list[_R]:
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
    # The in-flight limit is that of ``account``'s client (a batch is one account's, as a rule).
    workers_needed, items = len(head), itertools.chain(iter(head), source)
    del head  # the chain lets each item go once it is handed out; the list would keep the first ones
    return _Batch(func, workers_needed, conf.get_client(account), in_flight=workers).run(items)


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
        self.results: dict[int, _R] = {}  # by position; None results are not stored
        self.fed = threading.Event()  # every item is in the queue
        self.stop = threading.Event()  # start no more items
        self.failure: BaseException | None = None
        self.lock = threading.Lock()

    def run(self, items: Iterator[_T]) -> list[_R]:
        threads = [threading.Thread(target=self._work, name=f"wxpay-batch-{n}") for n in range(self.workers)]
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
        # An item without an entry returned None (see _work_through).
        return [cast(_R, self.results.get(index)) for index in range(count)]

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
                result = self.func(item)
                # A function run for its effect (the complaint sync's) returns None: nothing is
                # kept for it, so a batch of any length holds no per-item entry while it runs.
                if result is not None:
                    self.results[index] = result
                del item, result  # not held while this worker waits for its next item
            except BaseException as exc:  # noqa: BLE001 - a bug or an interrupt: stops the batch, re-raised in the caller
                self._fail(exc)
