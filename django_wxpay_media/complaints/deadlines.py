"""WeChat Pay's clocks on a complaint: reply within 24 h, finish within 72 h.

Both clocks start at ``complaint_time``; their lengths, and how close a deadline
must be to count as *due soon*, are ``WXPAY_MEDIA`` settings
(``COMPLAINT_REPLY_HOURS`` 24, ``COMPLAINT_COMPLETE_HOURS`` 72,
``COMPLAINT_DUE_SOON_HOURS`` 6) because WeChat may change them.

The clock running now follows the state: a *pending* complaint waits for its first
reply, a *processing* one for completion, a *processed* one has no clock. The
list's numbers are computed in the database (:class:`ComplaintQuerySet`); a single
complaint's clock in Python (:func:`clock_for`). Every function takes ``now`` so
that callers (and tests) can freeze time.

This module does not import the models (they import it, for the queryset).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models import Case, Count, ExpressionWrapper, F, OrderBy, Q, Value, When
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from .. import conf

PENDING, PROCESSING, PROCESSED = "PENDING", "PROCESSING", "PROCESSED"

#: Which clock runs: the first reply's, the completion's, or none.
REPLY, COMPLETION, NONE = "reply", "completion", ""
#: How a running clock stands.
ON_TIME, DUE_SOON, OVERDUE = "on_time", "due_soon", "overdue"

CLOCK_LABELS: dict[str, Promise] = {REPLY: _("Reply due"), COMPLETION: _("Completion due")}
URGENCY_LABELS: dict[str, Promise] = {ON_TIME: _("On time"), DUE_SOON: _("Due soon"), OVERDUE: _("Overdue")}


def reply_window() -> datetime.timedelta:
    """How long after ``complaint_time`` the first reply is due (``COMPLAINT_REPLY_HOURS``)."""
    return datetime.timedelta(hours=float(conf.get_setting("COMPLAINT_REPLY_HOURS")))


def completion_window() -> datetime.timedelta:
    """How long after ``complaint_time`` handling must be finished (``COMPLAINT_COMPLETE_HOURS``)."""
    return datetime.timedelta(hours=float(conf.get_setting("COMPLAINT_COMPLETE_HOURS")))


def due_soon_window() -> datetime.timedelta:
    """How close a deadline counts as *due soon* (``COMPLAINT_DUE_SOON_HOURS``)."""
    return datetime.timedelta(hours=float(conf.get_setting("COMPLAINT_DUE_SOON_HOURS")))


@dataclass(frozen=True)
class Clock:
    """The clock running on one complaint at ``now``.

    ``kind`` is :data:`REPLY`, :data:`COMPLETION` or :data:`NONE` (processed, or no
    ``complaint_time``); ``deadline`` the moment it runs out; ``urgency`` one of
    :data:`ON_TIME`, :data:`DUE_SOON`, :data:`OVERDUE` (empty without a clock);
    ``remaining`` is negative once overdue.
    """

    kind: str
    deadline: datetime.datetime | None
    urgency: str
    remaining: datetime.timedelta | None
    reply_deadline: datetime.datetime | None
    completion_deadline: datetime.datetime | None

    @property
    def running(self) -> bool:
        return self.kind != NONE

    @property
    def label(self) -> str:
        """``Reply due`` or ``Completion due`` (translated), empty without a clock."""
        return str(CLOCK_LABELS[self.kind]) if self.kind else ""

    @property
    def urgency_label(self) -> str:
        """``On time``, ``Due soon`` or ``Overdue`` (translated), empty without a clock."""
        return str(URGENCY_LABELS[self.urgency]) if self.urgency else ""


def urgency_of(deadline: datetime.datetime, now: datetime.datetime) -> str:
    """Overdue at the deadline itself; due soon within ``COMPLAINT_DUE_SOON_HOURS`` of it."""
    if deadline <= now:
        return OVERDUE
    if deadline <= now + due_soon_window():
        return DUE_SOON
    return ON_TIME


def clock_for(complaint: Any, now: datetime.datetime | None = None) -> Clock:
    """The clock of one complaint (anything with ``state`` and ``complaint_time``)."""
    now = now or timezone.now()
    start = complaint.complaint_time
    reply = start + reply_window() if start else None
    completion = start + completion_window() if start else None
    kind = {PENDING: REPLY, PROCESSING: COMPLETION}.get(complaint.state, NONE) if start else NONE
    deadline = reply if kind == REPLY else completion if kind == COMPLETION else None
    if deadline is None:
        return Clock(NONE, None, "", None, reply, completion)
    return Clock(kind, deadline, urgency_of(deadline, now), deadline - now, reply, completion)


# -- the same rules in the database ---------------------------------------------------------------


def _window_q(now: datetime.datetime, low: datetime.timedelta | None, high: datetime.timedelta | None) -> Q:
    """Complaints whose running deadline lies in ``(now + low, now + high]`` (open ends for None).

    Written as comparisons of ``complaint_time`` with constants (deadline = start +
    window), so every database uses its index and no date arithmetic is needed.
    """
    q = Q(pk__in=[])
    for state, window in ((PENDING, reply_window()), (PROCESSING, completion_window())):
        part = Q(state=state, complaint_time__isnull=False)
        if low is not None:
            part &= Q(complaint_time__gt=now + low - window)
        if high is not None:
            part &= Q(complaint_time__lte=now + high - window)
        q |= part
    return q


def overdue_q(now: datetime.datetime) -> Q:
    """Open complaints whose running deadline has passed."""
    return _window_q(now, None, datetime.timedelta(0))


def due_soon_q(now: datetime.datetime) -> Q:
    """Open complaints whose running deadline comes within ``COMPLAINT_DUE_SOON_HOURS``."""
    return _window_q(now, datetime.timedelta(0), due_soon_window())


def on_time_q(now: datetime.datetime) -> Q:
    """Open complaints whose running deadline is further away than that."""
    return _window_q(now, due_soon_window(), None)


#: "What is due first": the running deadline ascending, processed (no deadline) last; needs
#: :meth:`ComplaintQuerySet.with_deadlines`'s ``due_at`` (the admin's list uses it as its ordering).
DUE_FIRST_ORDER: list[str | OrderBy] = [F("due_at").asc(nulls_last=True), "-complaint_time", "pk"]


class ComplaintQuerySet(models.QuerySet):
    """Complaints with their clocks, computed in the database (``Complaint.objects``)."""

    def with_deadlines(self, now: datetime.datetime | None = None) -> ComplaintQuerySet:
        """Annotate ``reply_deadline``, ``completion_deadline``, ``due_at`` (the running one),
        ``clock`` (:data:`REPLY` / :data:`COMPLETION` / empty) and ``urgency``."""
        now = now or timezone.now()
        moment = models.DateTimeField()
        return self.annotate(
            reply_deadline=ExpressionWrapper(F("complaint_time") + Value(reply_window()), output_field=moment),
            completion_deadline=ExpressionWrapper(
                F("complaint_time") + Value(completion_window()), output_field=moment
            ),
        ).annotate(
            due_at=Case(
                When(state=PENDING, then=F("reply_deadline")),
                When(state=PROCESSING, then=F("completion_deadline")),
                default=None,
                output_field=moment,
            ),
            clock=Case(
                When(Q(state=PENDING, complaint_time__isnull=False), then=Value(REPLY)),
                When(Q(state=PROCESSING, complaint_time__isnull=False), then=Value(COMPLETION)),
                default=Value(NONE),
                output_field=models.CharField(),
            ),
            urgency=Case(
                When(overdue_q(now), then=Value(OVERDUE)),
                When(due_soon_q(now), then=Value(DUE_SOON)),
                When(on_time_q(now), then=Value(ON_TIME)),
                default=Value(""),
                output_field=models.CharField(),
            ),
        )

    def due_first(self, now: datetime.datetime | None = None) -> ComplaintQuerySet:
        """What is due first first: the running deadline ascending, processed last."""
        return self.with_deadlines(now).order_by(*DUE_FIRST_ORDER)

    def overdue(self, now: datetime.datetime | None = None) -> ComplaintQuerySet:
        """Open complaints past their running deadline."""
        return self.filter(overdue_q(now or timezone.now()))

    def due_soon(self, now: datetime.datetime | None = None) -> ComplaintQuerySet:
        """Open complaints whose running deadline comes within ``COMPLAINT_DUE_SOON_HOURS``."""
        return self.filter(due_soon_q(now or timezone.now()))

    def on_time(self, now: datetime.datetime | None = None) -> ComplaintQuerySet:
        """Open complaints with more time than that."""
        return self.filter(on_time_q(now or timezone.now()))

    def by_urgency(self, urgency: str, now: datetime.datetime | None = None) -> ComplaintQuerySet:
        """:meth:`overdue`, :meth:`due_soon` or :meth:`on_time` by name (for a list filter)."""
        method = {OVERDUE: self.overdue, DUE_SOON: self.due_soon, ON_TIME: self.on_time}[urgency]
        return method(now)

    def desk_counts(self, now: datetime.datetime | None = None) -> dict[str, int]:
        """``pending``, ``pending_overdue``, ``processing``, ``processing_overdue``, ``processed``: one query."""
        now = now or timezone.now()
        overdue = overdue_q(now)
        return self.aggregate(
            pending=Count("pk", filter=Q(state=PENDING)),
            pending_overdue=Count("pk", filter=Q(state=PENDING) & overdue),
            processing=Count("pk", filter=Q(state=PROCESSING)),
            processing_overdue=Count("pk", filter=Q(state=PROCESSING) & overdue),
            processed=Count("pk", filter=Q(state=PROCESSED)),
        )
