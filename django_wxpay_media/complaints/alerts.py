"""Alerts: staff hear of a new complaint, a consumer writing again, a deadline close or missed.

Each event is alerted **once**: the desk first claims it by creating an
:class:`~.desk_models.Alert` row, whose unique constraint (complaint, kind,
occasion) lets only one process win; only the winner sends the signal
(:mod:`.signals`) and the e-mails. ``occasion`` is the deadline for deadline
alerts and the merchant's last reply for "wrote again" (so a consumer writing
after a new reply is a new event).

Recipients, in order and without repeats: the complaint's assignee, the active
staff who may reply (permission ``wxpay_complaints.reply_complaint``, superusers
included), then ``WXPAY_MEDIA['COMPLAINT_ALERT_EMAILS']``. A user (the assignee
too) is alerted only about a merchant they may see (:mod:`django_wxpay_media.scoping`). Each e-mail is written in
the recipient's language where the user model knows it (a ``language`` attribute),
else in ``LANGUAGE_CODE``.

:func:`offer_events` runs when a complaint is stored (notification, refresh,
sync); :func:`remind` is for cron (``manage.py wxpay_complaints remind``) or the
task :data:`.tasks.send_complaint_reminders`. No transaction or lock is held
while mail is sent.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Q
from django.dispatch import Signal
from django.utils import formats, timezone, translation
from django.utils.translation import gettext

from .. import conf, scoping
from . import deadlines, flags, signals
from .models import Alert, Complaint

logger = logging.getLogger("django_wxpay_media.complaints")

SIGNALS: dict[str, Signal] = {
    Alert.Kind.ARRIVED: signals.complaint_arrived,
    Alert.Kind.WROTE_AGAIN: signals.consumer_wrote_again,
    Alert.Kind.DUE_SOON: signals.deadline_close,
    Alert.Kind.OVERDUE: signals.deadline_missed,
}


def _moment(value: datetime.datetime | None) -> str:
    """An occasion key: the moment in UTC, to the second; empty for none."""
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


# -- recipients -------------------------------------------------------------------------------------


def _language(user: Any) -> str | None:
    value = getattr(user, "language", None) or getattr(user, "language_code", None)
    return value if isinstance(value, str) and value else None


def _staff_who_may_reply() -> list[tuple[Any, frozenset[str] | None]]:
    """The active staff who may reply (superusers included), by pk, each with the merchants they see."""
    user_model = get_user_model()
    email_field = user_model.get_email_field_name()
    permission = Permission.objects.filter(
        codename="reply_complaint", content_type__app_label=Complaint._meta.app_label
    ).first()
    can_reply = Q(is_superuser=True)
    if permission is not None:
        can_reply |= Q(user_permissions=permission) | Q(groups__permissions=permission)
    staff = (
        user_model.objects.filter(can_reply, is_active=True, is_staff=True)
        .exclude(**{email_field: ""})
        .distinct()
        .order_by("pk")
    )
    return [(user, scoping.visible_mchids(user)) for user in staff]


def recipients(
    complaint: Complaint, staff: list[tuple[Any, frozenset[str] | None]] | None = None
) -> list[tuple[str, str | None]]:
    """``(address, language or None)`` to alert about ``complaint``, the assignee first.

    ``staff``: :func:`_staff_who_may_reply`, when the caller read it already (once for many complaints).
    """
    email_field = get_user_model().get_email_field_name()
    found: list[tuple[str, str | None]] = []
    seen: set[str] = set()

    def add(address: Any, language: str | None) -> None:
        if isinstance(address, str) and address and address.lower() not in seen:
            seen.add(address.lower())
            found.append((address, language))

    def sees(mchids: frozenset[str] | None) -> bool:
        return mchids is None or complaint.complainted_mchid in mchids

    assignee = complaint.assignee if complaint.assignee_id else None
    if assignee is not None and getattr(assignee, "is_active", True) and sees(scoping.visible_mchids(assignee)):
        add(getattr(assignee, email_field, ""), _language(assignee))
    for user, mchids in _staff_who_may_reply() if staff is None else staff:
        if sees(mchids):
            add(getattr(user, email_field, ""), _language(user))
    for address in conf.get_setting("COMPLAINT_ALERT_EMAILS") or ():
        add(address, None)
    return found


# -- the message ---------------------------------------------------------------------------------------


def _subject(alert: Alert, complaint: Complaint) -> str:
    subjects: dict[str, str] = {
        Alert.Kind.ARRIVED.value: gettext("New WeChat Pay complaint %(id)s"),
        Alert.Kind.WROTE_AGAIN.value: gettext("The consumer wrote again on complaint %(id)s"),
        Alert.Kind.DUE_SOON.value: gettext("Complaint %(id)s: deadline close"),
        Alert.Kind.OVERDUE.value: gettext("Complaint %(id)s: deadline missed"),
    }
    return subjects[str(alert.kind)] % {"id": complaint.complaint_id}


def _body(alert: Alert, complaint: Complaint, now: datetime.datetime) -> str:
    lines = [_subject(alert, complaint), ""]
    clock = deadlines.clock_for(complaint, now)
    if clock.deadline is not None:
        when = formats.date_format(timezone.localtime(clock.deadline), "DATETIME_FORMAT")
        lines.append(
            gettext("%(clock)s: %(when)s (%(urgency)s)")
            % {
                "clock": clock.label,
                "when": when,
                "urgency": clock.urgency_label,
            }
        )
    lines.append(gettext("State: %(state)s") % {"state": complaint.get_state_display()})
    if complaint.out_trade_no:
        lines.append(gettext("Order number: %(order)s") % {"order": complaint.out_trade_no})
    if complaint.amount is not None:
        lines.append(gettext("Order amount: ¥%(amount)s") % {"amount": flags.yuan(complaint.amount)})
    lines += [f"* {flag.label}" + (f": {flag.detail}" if flag.detail else "") for flag in flags.flags_for(complaint)]
    if complaint.description or complaint.detail:
        lines += ["", complaint.description, complaint.detail]
    return "\n".join(lines).strip() + "\n"


def _send(alert: Alert, complaint: Complaint, now: datetime.datetime) -> None:
    """E-mail each recipient in their language; record who, or why it failed."""
    to = recipients(complaint)
    messages = []
    for address, language in to:
        with translation.override(language or settings.LANGUAGE_CODE):
            messages.append(EmailMessage(_subject(alert, complaint), _body(alert, complaint, now), to=[address]))
    error = ""
    try:
        if messages:
            get_connection().send_messages(messages)
    except Exception as exc:  # noqa: BLE001 - any mail backend failure: record it, never break storing a complaint
        logger.error("Complaint alert %s could not be e-mailed: %s", alert, exc)
        error = f"{type(exc).__name__}: {exc}"[:1000]
    Alert.objects.filter(pk=alert.pk).update(
        recipients=[address for address, _ in to], sent_at=None if error else timezone.now(), error=error
    )


# -- events ------------------------------------------------------------------------------------------------


def _claim_lost() -> tuple[type[Exception], ...]:
    """The errors of a claim another process made first: the unique constraint's, and, outside a
    transaction, a deadlock (InnoDB's answer to two INSERTs racing on the unique key, which
    rolled back only this INSERT; inside a transaction it would have rolled back the caller's)."""
    if transaction.get_connection().in_atomic_block:
        return (IntegrityError,)
    return (IntegrityError, OperationalError)


def alert(complaint: Complaint, kind: str, occasion: str = "", *, now: datetime.datetime | None = None) -> Alert | None:
    """Claim the event (kind, occasion) of ``complaint``; if this call won, signal and e-mail it.

    Returns the new :class:`Alert`, or ``None`` when it had been claimed already.
    """
    now = now or timezone.now()
    if Alert.objects.filter(complaint=complaint, kind=kind, occasion=occasion).exists():
        return None  # the usual case on every later store or reminder: no failed INSERT to log
    try:
        with transaction.atomic():  # a savepoint: the unique constraint settles concurrent claims
            record = Alert.objects.create(complaint=complaint, kind=kind, occasion=occasion)
    except _claim_lost():
        return None
    for _receiver, result in SIGNALS[kind].send_robust(sender=Complaint, complaint=complaint, alert=record):
        if isinstance(result, Exception):
            logger.error("A receiver of the complaint %s signal failed: %r", kind, result, exc_info=result)
    _send(record, complaint, now)
    return record


def offer_events(complaint: Complaint, now: datetime.datetime | None = None) -> list[Alert]:
    """Alert what the stored state of ``complaint`` shows: its arrival, the consumer writing again."""
    sent = []
    if complaint.state != Complaint.State.PROCESSED:
        sent.append(alert(complaint, Alert.Kind.ARRIVED, now=now))
        if flags.wrote_again(complaint):
            sent.append(alert(complaint, Alert.Kind.WROTE_AGAIN, _moment(complaint.last_replied_at), now=now))
    return [record for record in sent if record is not None]


def offer_arrivals(complaints: list[Complaint], now: datetime.datetime | None = None) -> list[Alert]:
    """:func:`offer_events` for many new complaints (a sync's page) in a few queries, each alert once.

    The arrivals not claimed yet are claimed by one bulk INSERT in a savepoint: the
    unique constraint lets it succeed only if no other process claimed any of them
    meanwhile, so every row it wrote is this call's; if one was claimed (a rare race),
    each complaint goes the one-by-one way of :func:`alert`. The recipients are read
    once, the e-mails sent on one connection, and the alerts marked sent one UPDATE
    per set of recipients. "Wrote again" is decided from the rows (no query); its alerts go one by one.
    """
    now = now or timezone.now()
    open_ones = [c for c in complaints if c.state != Complaint.State.PROCESSED]
    if not open_ones:
        return []
    arrived = Alert.objects.filter(kind=Alert.Kind.ARRIVED, occasion="")
    claimed = set(arrived.filter(complaint__in=open_ones).values_list("complaint_id", flat=True))
    fresh = [c for c in open_ones if c.pk not in claimed]
    try:
        with transaction.atomic():
            records = Alert.objects.bulk_create([Alert(complaint=c, kind=Alert.Kind.ARRIVED) for c in fresh])
    except _claim_lost():  # another process claimed one of them meanwhile
        return [record for c in open_ones for record in offer_events(c, now)]
    staff = _staff_who_may_reply() if records else []
    groups: dict[tuple[str, ...], list[int]] = {}
    messages = []
    for record in records:
        complaint = record.complaint
        for _receiver, result in SIGNALS[Alert.Kind.ARRIVED].send_robust(
            sender=Complaint, complaint=complaint, alert=record
        ):
            if isinstance(result, Exception):
                logger.error("A receiver of the complaint ARRIVED signal failed: %r", result, exc_info=result)
        to = recipients(complaint, staff)
        groups.setdefault(tuple(address for address, _ in to), []).append(complaint.pk)
        for address, language in to:
            with translation.override(language or settings.LANGUAGE_CODE):
                body = _body(record, complaint, now)
                messages.append(EmailMessage(_subject(record, complaint), body, to=[address]))
    error = ""
    try:
        if messages:
            get_connection().send_messages(messages)
    except Exception as exc:  # noqa: BLE001 - any mail backend failure: record it, never break storing complaints
        logger.error("Complaint alerts of %d complaints could not be e-mailed: %s", len(records), exc)
        error = f"{type(exc).__name__}: {exc}"[:1000]
    for addresses, pks in groups.items():
        arrived.filter(complaint__in=pks).update(
            recipients=list(addresses), sent_at=None if error else timezone.now(), error=error
        )
    sent: list[Alert | None] = list(records)
    sent += [
        alert(c, Alert.Kind.WROTE_AGAIN, _moment(c.last_replied_at), now=now) for c in open_ones if flags.wrote_again(c)
    ]
    return [record for record in sent if record is not None]


def remind(now: datetime.datetime | None = None) -> list[Alert]:
    """Alert every deadline now close or missed, and every consumer waiting; each once.

    Safe to run often and from several processes at once (cron, task workers).
    """
    now = now or timezone.now()
    open_rows = Complaint.objects.select_related("assignee").order_by("pk")
    sent: list[Alert | None] = []
    for kind, condition in (
        (Alert.Kind.OVERDUE, deadlines.overdue_q(now)),
        (Alert.Kind.DUE_SOON, deadlines.due_soon_q(now)),
    ):
        for complaint in open_rows.filter(condition):
            deadline = deadlines.clock_for(complaint, now).deadline
            sent.append(alert(complaint, kind, _moment(deadline), now=now))
    waiting = open_rows.filter(flags.wrote_again_q()).exclude(state=Complaint.State.PROCESSED)
    sent += [alert(c, Alert.Kind.WROTE_AGAIN, _moment(c.last_replied_at), now=now) for c in waiting]
    return [record for record in sent if record is not None]
