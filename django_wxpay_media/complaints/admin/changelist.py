"""The complaint list: what is due first, a countdown per row, the desk's counts, and its filters.

The list's queryset comes from the model's own API (``due_first()`` annotates the
clocks), so every row's deadline, urgency and flags are read from the same query
(the "consumer wrote again" flag compares two columns of the row: see
:func:`..flags.wrote_again_q`). The number of queries does not grow with the rows.
The counts at the top are one ``desk_counts()`` query over the list's (unfiltered)
queryset; each is a link to the list it counts.
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlencode

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .. import deadlines, flags
from ..models import Complaint
from .base import DeskBase, fen
from .countdown import countdown

URGENCY = "urgency"
FLAG = "flag"
ASSIGNED = "assigned"


class UrgencyFilter(admin.SimpleListFilter):
    """Overdue, due soon, on time: by the clock running now."""

    title = _("deadline")
    parameter_name = URGENCY

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return list(deadlines.URGENCY_LABELS.items())[::-1]  # overdue first

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        if self.value() in deadlines.URGENCY_LABELS:
            return cast(deadlines.ComplaintQuerySet, queryset).by_urgency(str(self.value()), timezone.now())
        return queryset


class FlagFilter(admin.SimpleListFilter):
    """Each flag of :mod:`..flags`, a database condition."""

    title = _("flag")
    parameter_name = FLAG

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return list(flags.LABELS.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        if self.value() in flags.LABELS:
            return queryset.filter(flags.filter_q(str(self.value())))
        return queryset


class AssignedFilter(admin.SimpleListFilter):
    """Assigned to me, or to nobody yet."""

    title = _("assigned to")
    parameter_name = ASSIGNED

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("me", _("Assigned to me")), ("nobody", _("Unassigned"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        if self.value() == "me":
            return queryset.filter(assignee=request.user.pk)
        if self.value() == "nobody":
            return queryset.filter(assignee__isnull=True)
        return queryset


class DateWithoutNoDateFilter(admin.DateFieldListFilter):
    """Django's date filter without "No date" / "Has date": every complaint has its time."""

    def choices(self, changelist: Any) -> Any:
        for choice in super().choices(changelist):
            if "__isnull=" not in str(choice.get("query_string", "")):
                yield choice


class DeskList(DeskBase):
    """The changelist part of :class:`ComplaintAdmin <.ComplaintAdmin>`."""

    list_display = [
        # The order number and amount right after the clock: in view at 1280 px even beside the menu.
        "complaint_id",
        "deadline",
        "out_trade_no",
        "amount_yuan",
        "state",
        "flag_labels",  # "Refund requested" among them: the problem type is a filter, not a column
        "assignee",
    ]
    list_filter = [
        UrgencyFilter,
        FlagFilter,
        AssignedFilter,
        "state",
        "problem_type",
        "complainted_mchid",
        ("complaint_time", DateWithoutNoDateFilter),
    ]
    list_select_related = ["assignee"]
    # A filtered page says "N results (Show all)", not also the whole table's count: one
    # COUNT(*) over every complaint less per page (the desk's counts on top say the totals).
    show_full_result_count = False
    search_fields = ["=complaint_id", "=out_trade_no", "=transaction_id"]
    change_list_template = "admin/wxpay_complaints/complaint/change_list.html"

    def get_ordering(self, request: HttpRequest) -> Any:
        """ "What is due first": ``Complaint.objects.due_first()``'s order (its ``due_at`` comes from
        get_queryset). The ChangeList orders by this over any queryset order; a method, not the
        ``ordering`` attribute, because the admin's checks know model fields only."""
        return deadlines.DUE_FIRST_ORDER

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = cast(deadlines.ComplaintQuerySet, super().get_queryset(request))
        return queryset.due_first(timezone.now())

    @admin.display(description=_("deadline"), ordering="due_at")
    def deadline(self, obj: Complaint) -> str:
        due_at = getattr(obj, "due_at", None)
        if due_at is None:
            return "-"
        urgency = getattr(obj, "urgency", "") or deadlines.urgency_of(due_at, timezone.now())
        label = deadlines.CLOCK_LABELS.get(getattr(obj, "clock", ""), "")
        return format_html(
            '<span class="wxpay-due wxpay-due-{}" title="{} {}">{}</span>',
            urgency,
            label,
            timezone.localtime(due_at).strftime("%Y-%m-%d %H:%M"),
            countdown(due_at, timezone.now(), depth=1),  # the list is narrow; the page says more
        )

    @admin.display(description=_("flags"))
    def flag_labels(self, obj: Complaint) -> str:
        raised = flags.flags_for(obj)
        return format_html_join(
            " ",
            '<span class="wxpay-flag wxpay-flag-{}" title="{}">{}</span>',
            ((f.code, f.detail, f.label) for f in raised),
        )

    @admin.display(description=_("order amount"), ordering="amount")
    def amount_yuan(self, obj: Complaint) -> str:
        return fen(obj.amount)

    def desk_counts(self, request: HttpRequest) -> list[tuple[str, int, str, bool]]:
        """The counts at the top: (label, number, link to the list it counts, is an overdue count)."""
        # Through get_queryset (a site's own scoping applies); no order needed to count.
        listed = cast(deadlines.ComplaintQuerySet, self.get_queryset(request).order_by())
        counts = listed.desk_counts(timezone.now())
        base = self._url("complaint_changelist")

        def link(**params: str) -> str:
            return f"{base}?{urlencode(params)}"

        overdue = deadlines.OVERDUE
        return [
            (str(Complaint.State.PENDING.label), counts["pending"], link(state__exact="PENDING"), False),
            (
                gettext("Pending, overdue"),
                counts["pending_overdue"],
                link(state__exact="PENDING", urgency=overdue),
                True,
            ),
            (str(Complaint.State.PROCESSING.label), counts["processing"], link(state__exact="PROCESSING"), False),
            (
                gettext("Processing, overdue"),
                counts["processing_overdue"],
                link(state__exact="PROCESSING", urgency=overdue),
                True,
            ),
            (str(Complaint.State.PROCESSED.label), counts["processed"], link(state__exact="PROCESSED"), False),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = {**(extra_context or {}), "desk_counts": self.desk_counts(request)}
        return super().changelist_view(request, extra_context=context)
