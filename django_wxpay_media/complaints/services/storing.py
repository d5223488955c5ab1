"""Storing WeChat Pay's copies of a complaint and its history (no network)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connections, models, router, transaction
from django.utils import timezone

from ...wechatpay import complaints as wc
from ...wechatpay import errors
from .. import alerts, flags, moments
from ..models import Complaint, ComplaintImage, HistoryEntry, parse_time

#: How many of a complaint's consumer images are stored and shown (WeChat Pay may list
#: any number); the complaint's page says how many more there are.
MAX_CONSUMER_IMAGES = 30


def check_lengths(model: type[models.Model], values: Mapping[str, Any]) -> None:
    """Refuse a text from WeChat Pay longer than its column (SQLite would store it whole).

    Raises :class:`~..wechatpay.errors.InvalidResponseError` (nothing is stored,
    nothing truncated); the message names the field, never its value.
    """
    for name, value in values.items():
        limit = getattr(model._meta.get_field(name), "max_length", None)
        if isinstance(value, str) and limit is not None and len(value) > limit:
            raise errors.InvalidResponseError(
                f"WeChat Pay sent a {model.__name__}.{name} of {len(value)} characters; at most {limit} can be stored."
            )


def _values(detail: wc.Complaint, account: str, *, digest: bool) -> dict[str, Any]:
    """The columns of a complaint's row from WeChat's detail read through ``account``, lengths checked."""
    order = detail.orders[0] if detail.orders else None
    values = {
        "account": account,
        "state": detail.complaint_state,
        "problem_type": detail.problem_type,
        "description": detail.problem_description,
        "detail": detail.complaint_detail,
        "complaint_time": parse_time(detail.complaint_time),
        "complainted_mchid": detail.complainted_mchid,
        "out_trade_no": order.out_trade_no if order else "",
        "transaction_id": order.transaction_id if order else "",
        "amount": order.amount if order else None,
        "apply_refund_amount": detail.apply_refund_amount,
        "payer_phone_encrypted": detail.payer_phone,  # as sent: encrypted
        "image_count": sum(len(media.media_urls) for media in detail.media),
        "raw": detail.raw,
        "synced_at": timezone.now(),
        **flags.stored_fields(detail.raw),
    }
    if digest:
        values["list_digest"] = detail.digest
    check_lengths(Complaint, {"complaint_id": detail.complaint_id, **values})
    for media in detail.media:
        check_lengths(ComplaintImage, {"media_type": media.media_type})
    return values


def store(detail: wc.Complaint, account: str = "default", *, digest: bool = True) -> Complaint:
    """Create or update the row of one complaint from WeChat's detail (no network), read
    through merchant account ``account`` (which answers it).

    With ``digest`` (the default) the detail's digest is stored too, and a sync skips
    the complaint while WeChat lists it unchanged: store its history first.
    """
    values = _values(detail, account, digest=digest)
    try:
        complaint, _ = Complaint.objects.update_or_create(complaint_id=detail.complaint_id, defaults=values)
    except IntegrityError:  # a concurrent notification created it first
        complaint, _ = Complaint.objects.update_or_create(complaint_id=detail.complaint_id, defaults=values)
    _store_images(complaint, detail)
    alerts.offer_events(complaint)  # new complaint, consumer wrote again: each alert once
    return complaint


def _store_images(complaint: Complaint, detail: wc.Complaint) -> None:
    _insert_images(_image_rows(complaint, detail))


def _image_rows(complaint: Complaint, detail: wc.Complaint) -> list[ComplaintImage]:
    listed = [(url, media.media_type) for media in detail.media for url in media.media_urls]
    return [
        ComplaintImage(
            complaint=complaint,
            url_hash=ComplaintImage.hash_url(url),
            media_url=url,
            media_type=media_type,
            position=position,
        )
        for position, (url, media_type) in enumerate(listed[:MAX_CONSUMER_IMAGES])  # bounded: see the constant
    ]


def _insert_images(rows: list[ComplaintImage]) -> None:
    if rows:  # one INSERT; images stored before are kept as they are
        ComplaintImage.objects.bulk_create(rows, ignore_conflicts=True)


def store_history(complaint: Complaint, entries: Sequence[wc.HistoryEntry]) -> None:
    """Add the history entries not stored yet (no network)."""
    _check_history(entries)
    if entries:
        _insert_history(complaint, entries)
        moments.note_history(complaint)


def _check_history(entries: Sequence[wc.HistoryEntry]) -> None:
    for entry in entries:
        check_lengths(
            HistoryEntry, {"log_id": entry.log_id, "operator": entry.operator, "operate_type": entry.operate_type}
        )


def _insert_history(complaint: Complaint, entries: Sequence[wc.HistoryEntry]) -> None:
    _upsert_history(_history_rows(complaint, entries))


def _history_rows(complaint: Complaint, entries: Sequence[wc.HistoryEntry]) -> list[HistoryEntry]:
    rows = {  # by log_id: an answer that repeats an entry must not make the INSERT conflict with itself
        entry.log_id: HistoryEntry(
            complaint=complaint,
            log_id=entry.log_id,
            operator=entry.operator,
            operate_time=parse_time(entry.operate_time),
            operate_type=entry.operate_type,
            operate_details=entry.operate_details,
            image_urls=list(entry.image_list),
            raw=entry.raw,
        )
        for entry in entries
    }
    return list(rows.values())


def _upsert_history(rows: list[HistoryEntry]) -> None:
    if rows:
        HistoryEntry.objects.bulk_create(rows, **_upsert_options())  # one INSERT


def _upsert_options() -> dict[str, Any]:
    """``bulk_create`` options that update an entry stored already, where the database can."""
    features = connections[router.db_for_write(HistoryEntry)].features
    if not features.supports_update_conflicts:
        return {"ignore_conflicts": True}
    options: dict[str, Any] = {"update_conflicts": True, "update_fields": _HISTORY_FIELDS}
    if features.supports_update_conflicts_with_target:  # MariaDB/MySQL take no target
        options["unique_fields"] = ["complaint", "log_id"]
    return options


_HISTORY_FIELDS = ["operator", "operate_time", "operate_type", "operate_details", "image_urls", "raw"]


@dataclass(frozen=True)
class _NewRows:
    """A new complaint's rows, built and checked but not saved: the complaint, its images, its history."""

    complaint: Complaint
    images: list[ComplaintImage]
    history: list[HistoryEntry]


def _new_rows(detail: wc.Complaint, entries: Sequence[wc.HistoryEntry], account: str) -> _NewRows:
    """The rows of a complaint seen for the first time, with its moments and digest, lengths checked (no query)."""
    values = {**_values(detail, account, digest=True), **moments.from_history(entries)}
    _check_history(entries)
    complaint = Complaint(complaint_id=detail.complaint_id, **values)
    return _NewRows(complaint, _image_rows(complaint, detail), _history_rows(complaint, entries))


def _insert_children(new: Sequence[_NewRows]) -> None:
    """The images and history of complaints just inserted: one INSERT each for all of them."""
    _insert_images([image for rows in new for image in rows.images])
    _upsert_history([entry for rows in new for entry in rows.history])


def store_new(
    page: Sequence[tuple[wc.Complaint, Sequence[wc.HistoryEntry]]], account: str = "default"
) -> list[Complaint]:
    """Store complaints seen for the first time, each with its history, in one transaction (no network).

    A sync's page of new complaints: their rows, their images and their history are
    one bulk INSERT each (the database may split a long one), whatever their number;
    the ids come back from the INSERT where the database returns them, else from
    one SELECT. All or nothing: a text longer than its column raises
    :class:`~..wechatpay.errors.InvalidResponseError` before any write, and a
    complaint stored meanwhile (a notification) or a value the database refuses
    raises the database's error, with nothing kept; the caller then stores each
    with :func:`store_with_history`, which settles each case alone. No alert is
    offered, and ``Complaint``'s ``pre_save``/``post_save`` signals are not sent
    (bulk INSERT): the caller alerts the arrivals (:func:`.alerts.offer_arrivals`).
    """
    new = [_new_rows(detail, entries, account) for detail, entries in page]
    complaints = [rows.complaint for rows in new]
    with transaction.atomic():
        Complaint.objects.bulk_create(complaints)
        missing = {c.complaint_id: c for c in complaints if c.pk is None}
        if missing:  # the database returns no ids from a bulk INSERT (MySQL): one SELECT
            stored = Complaint.objects.filter(complaint_id__in=missing).values_list("complaint_id", "pk")
            for complaint_id, pk in stored:
                missing[complaint_id].pk = pk
        _insert_children(new)
    return complaints


def store_with_history(
    detail: wc.Complaint,
    stored: Complaint | None,
    entries: Sequence[wc.HistoryEntry],
    account: str = "default",
    arrivals: list[Complaint] | None = None,
) -> Complaint:
    """Store a complaint read through ``account`` and its new history entries; the digest only
    with its history (no network).

    A complaint known already gets its history first, then its row and digest. A
    new one is three INSERTs in one transaction (row with its moments and digest,
    images, history), plus its arrival alert. Callers writing from several threads
    at once serialise these calls: SQLite refuses a second writer's transaction at
    once (``database is locked``) rather than waiting. ``arrivals``: a new complaint is
    appended there for the caller to alert with others (:func:`.alerts.offer_arrivals`)
    instead of being alerted here.
    """
    if stored is not None:
        store_history(stored, entries)
        return store(detail, account)
    new = _new_rows(detail, entries, account)
    complaint = new.complaint
    try:
        with transaction.atomic():  # all or nothing; no savepoint: nothing to keep if the row exists
            complaint.save(force_insert=True)
            _insert_children([new])
    except IntegrityError:
        stored = Complaint.objects.filter(complaint_id=detail.complaint_id).first()
        if stored is None:  # a value the database refuses (a CHECK constraint), not a race
            raise
        # A notification stored it meanwhile: the general path.
        store_history(stored, entries)
        return store(detail, account)
    if arrivals is not None:
        arrivals.append(complaint)  # alerted by the caller with the others of its page
    else:
        alerts.offer_events(complaint)  # a new complaint: its arrival, each alert once
    return complaint
