"""Complaint notifications: verified, recorded, and handled exactly when their complaint is stored.

The only writer of :class:`~.models.Notification`. A notification is recorded
(*received*) with a claim before its complaint is fetched, and marked *handled*
only once the complaint was stored; a refresh that fails for any reason (a WeChat
error, a value that does not fit, a database error) leaves it *failed*, with the
error, and a redelivery of the same id tries again. Copies arriving while one
delivery holds the claim fetch nothing and are asked to come back later, so
simultaneous copies give one row and one fetch. No transaction is open during
the fetch. A ``USER_RESPONSE`` notification also notes on the stored complaint
when the consumer wrote (:func:`.moments.note_consumer`): the "wrote again" flag
is raised before the history shows the step.
"""

from __future__ import annotations

import datetime
import enum
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from .. import conf
from ..wechatpay import complaints as wc
from ..wechatpay import errors
from . import alerts, moments
from .messages import message_for
from .models import Complaint, Notification
from .services import check_lengths, refresh

logger = logging.getLogger("django_wxpay_media.complaints")

#: Added to the client's longest call: how long a claim keeps other copies away.
CLAIM_MARGIN = datetime.timedelta(seconds=30)
#: Added again for a notification queued for a task worker: how long it may wait for one.
QUEUE_MARGIN = datetime.timedelta(minutes=15)


class NotificationStatus(str, enum.Enum):  # noqa: UP042 - like UploadState: str(status) is its value
    """What :func:`handle_notification` did with one delivery (stable values, for logs)."""

    #: The complaint is stored; the notification handled.
    ACCEPTED = "accepted"
    #: Recorded; its complaint is to be stored by a task worker (``BACKGROUND_NOTIFICATIONS``).
    QUEUED = "queued"
    #: About a sub-merchant the account does not handle: nothing stored, handled.
    IGNORED = "ignored"
    #: Handled before: nothing done.
    DUPLICATE = "duplicate"
    #: Another delivery of the same id is being handled: nothing done, come back later.
    BUSY = "busy"
    #: Forged, stale, unreadable, or values that cannot be stored: nothing written.
    REJECTED = "rejected"
    #: Recorded, but the complaint could not be stored; a redelivery tries again.
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class NotificationOutcome:
    """What :func:`handle_notification` did: the desk's result shape (``ok``, ``code``, ``record``).

    ``code`` says why it was rejected or failed (a verification reason, a
    notification error code, ``CONFIGURATION``, ``DATABASE_ERROR``…), else ``""``.
    """

    status: NotificationStatus
    code: str = ""
    notification: Notification | None = None

    @property
    def ok(self) -> bool:
        """True when WeChat Pay may stop sending it: accepted or queued now, handled before, or ignored."""
        return self.status in (
            NotificationStatus.ACCEPTED,
            NotificationStatus.QUEUED,
            NotificationStatus.DUPLICATE,
            NotificationStatus.IGNORED,
        )

    @property
    def record(self) -> Notification | None:
        """The notification's row (``None`` when nothing was recorded)."""
        return self.notification


def handle_notification(
    headers: Mapping[str, str],
    body: bytes,
    account: str | None = None,
    *,
    defer: Callable[[int, str, str], None] | None = None,
) -> NotificationOutcome:
    """Verify, decrypt and record a complaint notification sent to merchant account ``account``
    (default: the default one), then fetch and store its complaint through that account.

    Only that account's keys verify and decrypt it: one signed for another account is
    ``rejected``. With ``defer`` (background tasks configured), the fetch is handed
    on instead: ``defer(notification pk, claim, account)`` enqueues it and the answer
    is ``queued`` at once; the worker's :func:`handle_queued` stores the complaint
    and only then marks the notification handled. Until then the claim keeps
    redeliveries from enqueueing it again. If enqueueing fails, the fetch is done here.
    """
    name = account or conf.DEFAULT_ACCOUNT
    try:
        client = conf.get_client(name)
        apiv3_key = client.keys.apiv3_key  # a Secret: no frame here holds the key itself
        if apiv3_key is None:
            where = conf.get_account(name).setting
            raise ImproperlyConfigured(f"{where}['APIV3_KEY'] is needed to decrypt complaint notifications.")
        notification = wc.parse_notification(client.keys, apiv3_key, headers, body)
        values = {
            "notification_id": notification.id,
            "complaint_id": notification.complaint_id,
            "event_type": notification.event_type,
            "action_type": notification.action_type,
        }
        check_lengths(Notification, values)  # SQLite would store an over-long id whole
    except errors.SignatureVerificationError as exc:
        logger.warning("Complaint notification refused: %s", exc)
        return NotificationOutcome(NotificationStatus.REJECTED, exc.reason)
    except (wc.NotificationError, errors.InvalidResponseError) as exc:
        logger.warning("Complaint notification refused: %s", exc)
        return NotificationOutcome(NotificationStatus.REJECTED, exc.code)
    except (ImproperlyConfigured, errors.WeChatPayError) as exc:  # settings, or certificates unreachable
        logger.error("Complaint notification could not be checked: %s", exc)
        return NotificationOutcome(NotificationStatus.REJECTED, "CONFIGURATION")
    claim = uuid.uuid4()
    until = timezone.now() + datetime.timedelta(seconds=client.max_call_seconds) + CLAIM_MARGIN
    if defer is not None:  # the worker may start later than a call would end: the claim waits for it
        until += QUEUE_MARGIN
    try:
        record, taken = _claim(values, claim, until)
    except DatabaseError as exc:  # e.g. SQLite's "database is locked": nothing recorded, WeChat sends it again
        logger.error("Complaint notification %s could not be recorded: %s", notification.id, exc)
        return NotificationOutcome(NotificationStatus.FAILED, "DATABASE_ERROR")
    if not taken:
        status = NotificationStatus.DUPLICATE if record.state == Notification.State.HANDLED else NotificationStatus.BUSY
        return NotificationOutcome(status, notification=record)
    if defer is not None:
        try:
            defer(record.pk, str(claim), name)
        except Exception:  # a task backend down: do it now rather than lose it
            logger.exception("Notification %s could not be queued; handled in the request", record)
        else:
            return NotificationOutcome(NotificationStatus.QUEUED, notification=record)
    return _handle(record, claim, name)


def handle_queued(notification_pk: int, claim: str, account: str | None = None) -> NotificationOutcome:
    """Fetch and store, through merchant account ``account``, the complaint of a queued
    notification (on a task worker); then settle it.

    Only the claim the notification was queued with is honoured: a copy queued
    twice, or a notification handled meanwhile, does nothing (``duplicate`` or ``busy``).
    """
    record = Notification.objects.filter(pk=notification_pk).first()
    if record is None or record.state == Notification.State.HANDLED:
        return NotificationOutcome(NotificationStatus.DUPLICATE, notification=record)
    if str(record.claim) != claim:
        return NotificationOutcome(NotificationStatus.BUSY, notification=record)
    return _handle(record, uuid.UUID(claim), account or conf.DEFAULT_ACCOUNT)


def _claim(values: Mapping[str, str], claim: uuid.UUID, until: datetime.datetime) -> tuple[Notification, bool]:
    """The notification's row, and whether this delivery now holds its claim.

    Reads before it writes: a copy that finds the id handled or claimed writes
    nothing, so it never competes with the delivery storing the complaint (on
    SQLite, a competing writer is ``database is locked``). The claim itself is a
    conditional write (or the insert that the unique id settles).
    """
    try:  # get(), not first(): no ORDER BY to compile on every delivery (the id is unique)
        record = Notification.objects.get(notification_id=values["notification_id"])
    except Notification.DoesNotExist:
        try:
            with transaction.atomic():  # a savepoint: the unique id settles concurrent deliveries
                return Notification.objects.create(**values, claim=claim, claimed_until=until), True
        except IntegrityError:
            record = Notification.objects.get(notification_id=values["notification_id"])
    now = timezone.now()
    if record.state == Notification.State.HANDLED or (record.claimed_until and record.claimed_until >= now):
        return record, False
    taken = (
        Notification.objects.filter(pk=record.pk)
        .exclude(state=Notification.State.HANDLED)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claim=claim, claimed_until=until)
    )
    record.refresh_from_db()
    return record, bool(taken)


def _handle(record: Notification, claim: uuid.UUID, account: str) -> NotificationOutcome:
    """Fetch and store the complaint (the detail only: WeChat Pay waits), then settle the row."""
    try:
        outcome = refresh(record.complaint_id, history=False, account=account)
        if outcome.complaint is not None and record.action_type in moments.CONSUMER_TYPES:
            _note_consumer(outcome.complaint, record)
    except Exception as exc:  # whatever it is, the notification is not handled
        logger.exception("Complaint %s of notification %s could not be stored", record.complaint_id, record)
        code = "DATABASE_ERROR" if isinstance(exc, DatabaseError) else "INTERNAL_ERROR"
        message = message_for("NOT_STORED")
    else:
        if outcome.ok:
            ignored = outcome.code == "NOT_HANDLED"  # a sub-merchant not handled: say so on the row
            _settle(
                record, claim, Notification.State.HANDLED, code=outcome.code, message=outcome.message if ignored else ""
            )
            status = NotificationStatus.IGNORED if ignored else NotificationStatus.ACCEPTED
            return NotificationOutcome(status, notification=record)
        logger.warning("Complaint %s of notification %s not stored: %s", record.complaint_id, record, outcome.message)
        code, message = outcome.code or "ERROR", outcome.message
    try:
        _settle(record, claim, Notification.State.FAILED, code=code, message=message)
    except DatabaseError:  # still "received": the claim runs out and a redelivery tries again
        logger.exception("Notification %s could not be marked failed", record)
    return NotificationOutcome(NotificationStatus.FAILED, code, record)


def _note_consumer(complaint: Complaint, record: Notification) -> None:
    """The consumer wrote (when this site heard it): kept on the complaint, so that the flag does not
    wait for the history to show the step; alerted if it is news (storing alerted before the note)."""
    if moments.note_consumer(complaint, record.received_at):
        alerts.offer_events(complaint)


def _settle(record: Notification, claim: uuid.UUID, state: str, *, code: str = "", message: str = "") -> None:
    """Write the result and give up the claim; only the delivery holding it does."""
    Notification.objects.filter(pk=record.pk, claim=claim).update(
        state=state, refresh_error=code, error_message=message, claim=None, claimed_until=None
    )
    record.refresh_from_db()
