"""The complaint desk in the Django admin.

Complaints are read-only copies of WeChat Pay's detail; staff act on them through
screens of their own. The desk is split by job:

- :mod:`.changelist`: the list (what is due first, countdowns, counts, filters);
- :mod:`.page`: the complaint's page (clock, flags, timeline, assignee, actions);
- :mod:`.screens`: the action screens (reply, refund decision, complete, refresh,
  assign, images);
- :mod:`.base`: permissions (one per action; the decrypted payer phone only with
  ``view_payer_phone``) and URLs reversed for this admin site.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ...admin.accounts import AccountColumn
from ...scoping import visible_mchids
from .. import services
from ..messages import message_for
from ..models import Complaint, Notification, Reply
from .base import APP, ServiceWrittenAdmin, fen
from .changelist import DeskList
from .page import DeskPage
from .screens import DeskScreens

__all__ = ["ComplaintAdmin", "NotificationAdmin", "ReplyAdmin"]


@admin.register(Complaint)
class ComplaintAdmin(AccountColumn, DeskList, DeskPage, DeskScreens):
    merchant_field = "complainted_mchid"
    change_form_template = "admin/wxpay_complaints/complaint/change_form.html"
    fieldsets = [
        (None, {"fields": ["complaint_id", "state", "problem_type", "description", "detail", "complaint_time"]}),
        (
            _("Order"),
            {"fields": ["complainted_mchid", "out_trade_no", "transaction_id", "amount_yuan", "refund_requested_yuan"]},
        ),
        (_("Record"), {"fields": ["synced_at", "created_at"]}),
    ]

    class Media:
        css = {"all": ["wxpay_complaints/desk.css"]}
        js = ["wxpay_complaints/desk.js"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields: list[str] = [str(name) for _, options in self.fieldsets for name in options["fields"]]
        return [*fields, "payer_phone"] if self.has_view_payer_phone_permission(request) else fields

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = self.fieldsets
        if obj is not None and obj.apply_refund_amount is None:  # no refund asked: no empty row
            fieldsets = [
                (name, {**options, "fields": [f for f in options["fields"] if f != "refund_requested_yuan"]})
                for name, options in fieldsets
            ]
        if self.has_view_payer_phone_permission(request):
            return [*fieldsets, (_("Consumer"), {"fields": ["payer_phone"]})]
        return fieldsets

    @admin.display(description=_("refund requested"))
    def refund_requested_yuan(self, obj: Complaint) -> str:
        return fen(obj.apply_refund_amount)

    @admin.display(description=_("payer phone"))
    def payer_phone(self, obj: Complaint) -> str:
        # Decrypted for this page only; never stored, never logged.
        return services.payer_phone(obj) or message_for("NOT_AVAILABLE")


@admin.register(Reply)
class ReplyAdmin(ServiceWrittenAdmin):
    merchant_field = "complaint__complainted_mchid"
    list_display = ["complaint", "state", "sent_by", "created_at", "sent_at", "error_code", "request_id"]
    list_filter = ["state", "created_at"]
    search_fields = ["=complaint__complaint_id", "=request_id"]
    readonly_fields = [
        "complaint",
        "content",
        "images",
        "state",
        "sent_by",
        "created_at",
        "sent_at",
        "error_code",
        "error_message",
        "request_id",
    ]


@admin.register(Notification)
class NotificationAdmin(ServiceWrittenAdmin):
    list_display = [
        "notification_id",
        "complaint_link",
        "event_type",
        "action_type",
        "received_at",
        "state",
        "refresh_error",
    ]
    list_filter = ["state", "event_type", "action_type", "received_at"]
    search_fields = ["=notification_id", "=complaint_id"]
    readonly_fields = [
        "notification_id",
        "complaint_id",
        "event_type",
        "action_type",
        "received_at",
        "state",
        "refresh_error",
        "error_message",
    ]

    def scope(self, queryset: QuerySet[Any], request: HttpRequest) -> QuerySet[Any]:
        """Notifications of the complaints the user may see (one stored under no complaint: superusers only)."""
        mchids = visible_mchids(request.user)
        if mchids is None:
            return queryset
        seen = Complaint.objects.filter(complainted_mchid__in=sorted(mchids)).values("complaint_id")
        return queryset.filter(complaint_id__in=seen)

    @admin.display(description=_("complaint"))
    def complaint_link(self, obj: Notification) -> str:
        complaint = Complaint.objects.filter(complaint_id=obj.complaint_id).only("pk").first()
        if complaint is None:
            return obj.complaint_id
        url = reverse(f"admin:{APP}_complaint_change", args=[complaint.pk], current_app=self.admin_site.name)
        return format_html('<a href="{}">{}</a>', url, obj.complaint_id)
