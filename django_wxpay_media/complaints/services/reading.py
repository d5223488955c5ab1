"""Reading from WeChat Pay: one complaint, every recent complaint, an image, the payer's phone."""

from __future__ import annotations

import logging
import mimetypes
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from django.core.files.base import ContentFile
from django.db import DatabaseError, connections, router
from django.utils import timezone

from ... import conf
from ...services import batches
from ...wechatpay import complaints as wc
from .. import alerts, syncing
from ..messages import message_for
from ..models import Complaint, ComplaintImage
from .results import _CALL_ERRORS, Outcome, SyncResult, _failure
from .storing import store_new, store_with_history

logger = logging.getLogger("django_wxpay_media.complaints")


def refresh(complaint_id: str, *, history: bool = True, account: str | None = None) -> Outcome:
    """Fetch one complaint's detail (and the history entries not stored yet) through merchant
    account ``account`` and store them.

    ``account`` defaults to the account the stored complaint came through (the
    default account for a complaint not stored yet). The history is read whole for a
    complaint seen for the first time; for a known one only from the last stored
    entry on (see :mod:`..syncing`), and, unless ``history`` is true, only when the
    detail differs from the one stored. A detail that cannot be stored as sent (a
    value longer than its column) is a failure like a WeChat error; a database error
    is not caught here.
    """
    stored = Complaint.objects.filter(complaint_id=complaint_id).first()
    name = account or (stored.account if stored else conf.DEFAULT_ACCOUNT)
    try:
        client = conf.get_client(name)
        detail = wc.get_complaint(client, complaint_id)
        if not conf.get_account(name).handles(detail.complainted_mchid):
            # A sub-merchant this site does not handle (SUB_MERCHANTS): nothing stored.
            logger.info(
                "Complaint %s of merchant %s ignored: account %r does not handle that merchant (SUB_MERCHANTS).",
                complaint_id,
                detail.complainted_mchid,
                name,
            )
            return Outcome(True, message_for("NOT_HANDLED"), code="NOT_HANDLED")
        read = history or stored is None or stored.list_digest != detail.digest
        entries = syncing.history_to_store(client, complaint_id, stored) if read else []
        complaint = store_with_history(detail, stored, entries, name)
    except _CALL_ERRORS as exc:
        logger.warning("Complaint %s could not be refreshed: %s", complaint_id, exc)
        return _failure(exc)
    return Outcome(True, message_for("REFRESHED"), complaint=complaint)


def sync(
    days: int = 30,
    *,
    complainted_mchid: str | None = None,
    account: str | None = None,
    on_synced: Callable[[Complaint], None] | None = None,
) -> SyncResult:
    """Store every complaint of the last ``days`` days that changed since it was stored, with its
    history, of merchant account ``account`` (``None``: of every account, one after the other).

    Reads the list window after window (30 days each) and page after page, lazily;
    a complaint listed as it was stored is left alone (no call, no write). The
    history of the others is read ``CONCURRENCY`` complaints at a time on the
    account's shared client (the upload batches' runner: one 429 pauses every
    worker). New complaints are written a page (``syncing.PAGE``) at a time, in one
    transaction with one INSERT for their rows, one for their images and one for
    their history (:func:`.storing.store_new`); a page the database refuses is
    written again one complaint at a time, so a complaint that cannot be stored, or
    whose history cannot be read, is reported in ``failed`` and the others are still
    stored. A sync whose list fails part-way stores what it fetched before. A service provider
    account lists every sub-merchant's complaints; those of sub-merchants it does
    not handle (``SUB_MERCHANTS``) are reported in ``ignored``, not stored. An
    account whose list cannot be read sets ``error`` (the first) and the others are
    still read.

    Each complaint synced (stored, or unchanged) is kept in ``synced`` as a light row;
    with ``on_synced``, it is passed to that callback instead (one call at a time,
    possibly from a worker thread) and not kept: a sync of any size then holds a page
    of answers, not every row. ``count`` counts them either way.
    """
    result = SyncResult()
    lock = threading.Lock()

    def synced(complaint: Complaint) -> None:
        row = syncing.lighten(complaint)
        with lock:
            result.count += 1
            if on_synced is None:
                result.synced.append(row)
            else:
                on_synced(row)

    names = [account] if account else list(conf.account_names())
    for name in names:
        _sync_account(name, days, complainted_mchid, result, synced)
    return result


def _sync_account(
    name: str, days: int, complainted_mchid: str | None, result: SyncResult, synced: Callable[[Complaint], None]
) -> None:
    # The calls run at once. On SQLite the writes go one at a time: it refuses a second
    # writer's transaction at once ("database is locked") rather than waiting; other
    # databases take them side by side.
    one_writer = connections[router.db_for_write(Complaint)].vendor == "sqlite"
    writing: AbstractContextManager[Any] = threading.Lock() if one_writer else nullcontext()
    # New complaints are alerted a page at a time (recipients read once, claims in one INSERT).
    arrivals: list[Complaint] = []
    arrivals_lock = threading.Lock()

    def announce(everything: bool = False) -> None:
        with arrivals_lock:
            if not arrivals or (len(arrivals) < syncing.PAGE and not everything):
                return
            batch = arrivals[:]
            arrivals.clear()
        try:
            with writing:
                alerts.offer_arrivals(batch)
        except DatabaseError as exc:  # the complaints are stored; their alerts could not be claimed
            logger.error("The arrival alerts of %d complaints could not be sent: %s", len(batch), exc)

    # New complaints are written a page at a time (rows, images, history: one INSERT each), by
    # the reading thread before it reads the next list page: what waits here is one page, plus
    # those of the page before that were still under way (CONCURRENCY workers and their queue).
    pending: list[tuple[wc.Complaint, list[wc.HistoryEntry]]] = []
    pending_lock = threading.Lock()

    def take() -> list[tuple[wc.Complaint, list[wc.HistoryEntry]]]:
        with pending_lock:
            page = pending[:]
            pending.clear()
        return page

    def failed(complaint_id: str, exc: Exception) -> None:
        logger.warning("Complaint %s could not be synced: %s", complaint_id, exc)
        result.failed.append((complaint_id, _failure(exc)))

    def write(detail: wc.Complaint, stored: Complaint | None, entries: list[wc.HistoryEntry]) -> None:
        try:
            new: list[Complaint] = []
            with writing:
                complaint = store_with_history(detail, stored, entries, name, new)
            with arrivals_lock:
                arrivals.extend(new)
        except (*_CALL_ERRORS, DatabaseError) as exc:
            failed(detail.complaint_id, exc)
        else:
            synced(complaint)
            announce()

    def write_page(page: list[tuple[wc.Complaint, list[wc.HistoryEntry]]]) -> None:
        if not page:
            return
        try:
            with writing:
                complaints = store_new(page, name)
        except (*_CALL_ERRORS, DatabaseError) as exc:
            # Nothing of the page was kept: one of them cannot be stored as sent, or was stored
            # meanwhile (a notification). Each goes its own way, so only that one is reported.
            logger.info("A page of %d new complaints is stored one by one: %s", len(page), exc)
            for detail, entries in page:
                write(detail, None, entries)
            return
        with arrivals_lock:
            arrivals.extend(complaints)
        for complaint in complaints:
            synced(complaint)
        announce()

    def one(item: tuple[wc.Complaint, Complaint | None]) -> None:
        detail, stored = item
        try:
            entries = syncing.history_to_store(client, detail.complaint_id, stored)
        except (*_CALL_ERRORS, DatabaseError) as exc:
            failed(detail.complaint_id, exc)
            return
        if stored is not None:  # changed since it was stored: its own way
            write(detail, stored, entries)
            return
        with pending_lock:  # written with its page, before the next page is read (between_pages)
            pending.append((detail, entries))

    def kept(page: Iterable[wc.Complaint]) -> list[wc.Complaint]:
        return [detail for detail in page if keep(detail)]

    def handled(pages: Iterable[Iterable[wc.Complaint]]) -> Iterator[list[wc.Complaint]]:
        # map(), not a generator: a suspended generator would hold the page it yielded while the
        # page's entries are worked on and let go (one page of answers at a time, not two).
        return map(kept, pages)

    def keep(detail: wc.Complaint) -> bool:
        if settings.handles(detail.complainted_mchid):
            return True
        logger.info(
            "Complaint %s of merchant %s ignored: account %r does not handle that merchant (SUB_MERCHANTS).",
            detail.complaint_id,
            detail.complainted_mchid,
            name,
        )
        result.ignored.append((detail.complaint_id, detail.complainted_mchid))
        return False

    try:
        client = conf.get_client(name)
        settings = conf.get_account(name)
        listed = wc.iter_recent_pages(client, days, complainted_mchid=complainted_mchid)
        # Before the next list page is read, the new complaints fetched so far are written: the
        # sync holds one page of answers, and those still under way from the page before.
        between_pages = lambda: write_page(take())  # noqa: E731
        batches.run_all(one, syncing.to_fetch(handled(listed), synced, between_pages), name)
    except _CALL_ERRORS as exc:
        logger.warning("Complaints of account %r could not be listed: %s", name, exc)
        result.error = result.error or _failure(exc)
    finally:
        write_page(take())  # the last page, or what was fetched before the list failed
        announce(everything=True)


def download_image(image: ComplaintImage) -> Outcome:
    """Download a consumer image into the configured storage, unless it is there already."""
    if image.file:
        return Outcome(True, "", complaint=image.complaint)
    try:
        download = wc.download_image(conf.get_client(image.complaint.account), image.media_url)
    except _CALL_ERRORS as exc:
        ComplaintImage.objects.filter(pk=image.pk).update(error_code=getattr(exc, "code", "CONFIGURATION"))
        failure = _failure(exc)
        return Outcome(False, message_for("IMAGE_DOWNLOAD_FAILED", reason=failure.message), code=failure.code)
    extension = mimetypes.guess_extension(download.content_type.split(";")[0].strip()) or ".img"
    image.file.save(f"{image.position + 1}{extension}", ContentFile(download.data), save=False)
    image.content_type = download.content_type
    image.downloaded_at = timezone.now()
    image.error_code = ""
    image.save(update_fields=["file", "content_type", "downloaded_at", "error_code"])
    return Outcome(True, "", request_id=download.request_id or "", complaint=image.complaint)


def payer_phone(complaint: Complaint) -> str | None:
    """The consumer's phone number, decrypted now and never stored; ``None`` if it cannot be.

    Show it only to staff with the ``view_payer_phone`` permission.
    """
    if not complaint.payer_phone_encrypted:
        return None
    try:
        key = conf.get_client(complaint.account).signer.private_key
        return wc.decrypt_payer_phone(key, complaint.payer_phone_encrypted)
    except _CALL_ERRORS:
        return None
