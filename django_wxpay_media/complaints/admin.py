"""The complaint desk in the Django admin.

Complaints are read-only copies of WeChat Pay's detail; staff act on them through
screens of their own (reply, mark complete, refund decision, refresh, consumer
image), each a view added with ``get_urls()`` and wrapped in
``admin_site.admin_view()``. Each action has its own permission; the decrypted
payer phone is shown only with ``view_payer_phone``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
)
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from . import services
from .forms import ConfirmForm, RefundDecisionForm, ReplyForm
from .models import Complaint, ComplaintImage, Notification, Reply

APP = "wxpay_complaints"


def _fen(value: int | None) -> str:
    return "" if value is None else f"¥{value / 100:.2f}"


class _ServiceWrittenAdmin(admin.ModelAdmin):
    """Records the complaint service writes: staff view them, never add, change or delete them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Complaint)
class ComplaintAdmin(_ServiceWrittenAdmin):
    list_display = [
        "complaint_id",
        "state",
        "problem_type",
        "complainted_mchid",
        "complaint_time",
        "out_trade_no",
        "amount_yuan",
    ]
    list_filter = ["state", "problem_type", "complainted_mchid", "complaint_time"]
    search_fields = ["=complaint_id", "=out_trade_no", "=transaction_id"]
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

    # -- permissions ---------------------------------------------------------------------------

    def _has(self, request: HttpRequest, codename: str) -> bool:
        return request.user.has_perm(f"{APP}.{codename}")

    def has_reply_permission(self, request: HttpRequest) -> bool:
        return self._has(request, "reply_complaint")

    def has_complete_permission(self, request: HttpRequest) -> bool:
        return self._has(request, "complete_complaint")

    def has_refund_decision_permission(self, request: HttpRequest) -> bool:
        return self._has(request, "decide_refund_complaint")

    def has_view_payer_phone_permission(self, request: HttpRequest) -> bool:
        return self._has(request, "view_payer_phone")

    # -- columns -----------------------------------------------------------------------------

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields: list[str] = [str(name) for _, options in self.fieldsets for name in options["fields"]]
        return [*fields, "payer_phone"] if self.has_view_payer_phone_permission(request) else fields

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if self.has_view_payer_phone_permission(request):
            return [*self.fieldsets, (_("Consumer"), {"fields": ["payer_phone"]})]
        return self.fieldsets

    @admin.display(description=_("order amount"), ordering="amount")
    def amount_yuan(self, obj: Complaint) -> str:
        return _fen(obj.amount)

    @admin.display(description=_("refund requested"))
    def refund_requested_yuan(self, obj: Complaint) -> str:
        return _fen(obj.apply_refund_amount)

    @admin.display(description=_("payer phone"))
    def payer_phone(self, obj: Complaint) -> str:
        # Decrypted for this page only; never stored, never logged.
        return services.payer_phone(obj) or gettext("(not available)")

    # -- the change page -----------------------------------------------------------------------

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        complaint = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if complaint is not None:
            context.update(
                consumer_images=[
                    (image, reverse(f"admin:{APP}_complaint_image", args=[image.pk]))
                    for image in complaint.images.all()
                ],
                history=complaint.history.all(),
                replies=[
                    (reply, reverse(f"admin:{APP}_complaint_resend", args=[complaint.pk, reply.pk]))
                    for reply in complaint.replies.prefetch_related("images").select_related("sent_by")
                ],
                can_reply=self.has_reply_permission(request) and complaint.state != Complaint.State.PROCESSED,
                can_resend=self.has_reply_permission(request),
                can_complete=self.has_complete_permission(request) and complaint.state == Complaint.State.PROCESSING,
                can_decide_refund=self.has_refund_decision_permission(request)
                and complaint.problem_type == Complaint.ProblemType.REFUND
                and complaint.state != Complaint.State.PROCESSED,
                action_urls={
                    name: reverse(f"admin:{APP}_complaint_{name}", args=[complaint.pk])
                    for name in ("reply", "complete", "refund", "refresh")
                },
            )
        return super().change_view(request, object_id, form_url, extra_context=context)

    # -- screens of their own -------------------------------------------------------------------

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/reply/", wrap(self.reply_view), name=f"{APP}_complaint_reply"),
            path("<int:pk>/reply/<int:reply_pk>/resend/", wrap(self.resend_view), name=f"{APP}_complaint_resend"),
            path("<int:pk>/complete/", wrap(self.complete_view), name=f"{APP}_complaint_complete"),
            path("<int:pk>/refund/", wrap(self.refund_view), name=f"{APP}_complaint_refund"),
            path("<int:pk>/refresh/", wrap(self.refresh_view), name=f"{APP}_complaint_refresh"),
            path("image/<int:pk>/", wrap(self.image_view), name=f"{APP}_complaint_image"),
            *super().get_urls(),
        ]

    def _complaint(self, request: HttpRequest, pk: int, allowed: bool) -> Complaint:
        if not allowed or not self.has_view_permission(request):
            raise PermissionDenied
        return get_object_or_404(Complaint, pk=pk)

    def _change_url(self, complaint: Complaint) -> str:
        return reverse(f"admin:{APP}_complaint_change", args=[complaint.pk])

    def _render(
        self, request: HttpRequest, complaint: Complaint, template: str, title: str, **context: Any
    ) -> TemplateResponse:
        form = context.get("form")
        media = self.media + form.media if form is not None else self.media
        return TemplateResponse(
            request,
            f"admin/wxpay_complaints/complaint/{template}",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "original": complaint,
                "title": title,
                "media": media,
                "change_url": self._change_url(complaint),
                **context,
            },
        )

    def _report(self, request: HttpRequest, outcome: services.Outcome) -> None:
        if outcome.ok:
            if outcome.message:
                messages.success(request, outcome.message)
        else:
            text = outcome.message
            if outcome.request_id:
                text = gettext("%(message)s (Request-ID %(request_id)s)") % {
                    "message": text,
                    "request_id": outcome.request_id,
                }
            messages.error(request, text)

    def _form_view(
        self,
        request: HttpRequest,
        pk: int,
        *,
        allowed: bool,
        form_class: type[forms.Form],
        template: str,
        title: str,
        act: Callable[[Complaint, dict[str, Any]], services.Outcome],
        done: Callable[[services.Outcome], bool],
    ) -> HttpResponse:
        """A complaint screen with a form: a valid POST calls ``act`` and tells staff the outcome.

        Back to the complaint when ``done(outcome)``; otherwise the form again, with what was typed.
        ``title`` is translated text with ``%(id)s`` for the complaint id.
        """
        complaint = self._complaint(request, pk, allowed)
        form = form_class(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            outcome = act(complaint, form.cleaned_data)
            self._report(request, outcome)
            if done(outcome):
                return HttpResponseRedirect(self._change_url(complaint))
        return self._render(request, complaint, template, title % {"id": complaint.complaint_id}, form=form)

    def reply_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._form_view(
            request,
            pk,
            allowed=self.has_reply_permission(request),
            form_class=ReplyForm,
            template="reply.html",
            title=gettext("Reply to complaint %(id)s"),
            act=lambda complaint, data: services.send_reply(
                complaint, data["content"], data["images"], user=request.user
            ),
            # a kept (failed) reply is on the complaint's page; a refused one is not
            done=lambda outcome: outcome.ok or outcome.reply is not None,
        )

    def resend_view(self, request: HttpRequest, pk: int, reply_pk: int) -> HttpResponse:
        """Send a failed reply again (POST), retrying the images it kept."""
        complaint = self._complaint(request, pk, self.has_reply_permission(request))
        reply = get_object_or_404(Reply, pk=reply_pk, complaint=complaint)
        if request.method == "POST":
            self._report(request, services.resend_reply(reply, user=request.user))
        return HttpResponseRedirect(self._change_url(complaint))

    def complete_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._form_view(
            request,
            pk,
            allowed=self.has_complete_permission(request),
            form_class=ConfirmForm,
            template="complete.html",
            title=gettext("Mark complaint %(id)s complete"),
            act=lambda complaint, data: services.complete(complaint, user=request.user),
            done=lambda outcome: True,  # nothing typed to keep: the complaint's page shows the result
        )

    def refund_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._form_view(
            request,
            pk,
            allowed=self.has_refund_decision_permission(request),
            form_class=RefundDecisionForm,
            template="refund.html",
            title=gettext("Refund decision for complaint %(id)s"),
            act=lambda complaint, data: services.decide_refund(
                complaint,
                data["action"],
                reason=data.get("reject_reason") or "",
                images=data.get("images") or [],
                remark=data.get("remark") or "",
                launch_refund_day=data.get("launch_refund_day"),
                user=request.user,
            ),
            done=lambda outcome: outcome.ok,
        )

    def refresh_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        complaint = self._complaint(request, pk, True)
        if request.method != "POST":
            return HttpResponseRedirect(self._change_url(complaint))
        self._report(request, services.refresh(complaint.complaint_id))
        return HttpResponseRedirect(self._change_url(complaint))

    def image_view(self, request: HttpRequest, pk: int) -> HttpResponseBase:
        """A consumer image, downloaded from WeChat Pay the first time it is asked for."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        image = get_object_or_404(ComplaintImage.objects.select_related("complaint"), pk=pk)
        outcome = services.download_image(image)
        if not outcome.ok or not image.file:
            # An <img> cannot show a message; the page shows the alt text and the error code.
            return HttpResponse(outcome.message, status=502, content_type="text/plain; charset=utf-8")
        try:
            handle = image.file.open("rb")
        except OSError:
            raise Http404 from None
        response = FileResponse(handle, content_type=image.content_type or "application/octet-stream")
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, max-age=3600"
        return response


@admin.register(Reply)
class ReplyAdmin(_ServiceWrittenAdmin):
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
class NotificationAdmin(_ServiceWrittenAdmin):
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

    @admin.display(description=_("complaint"))
    def complaint_link(self, obj: Notification) -> str:
        complaint = Complaint.objects.filter(complaint_id=obj.complaint_id).only("pk").first()
        if complaint is None:
            return obj.complaint_id
        return format_html(
            '<a href="{}">{}</a>', reverse(f"admin:{APP}_complaint_change", args=[complaint.pk]), obj.complaint_id
        )
