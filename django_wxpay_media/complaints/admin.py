"""The complaint desk in the Django admin.

Complaints are read-only copies of WeChat Pay's detail; staff act on them through
screens of their own (reply, mark complete, refund decision, refresh, consumer
image), each a view added with ``get_urls()``, wrapped in
``admin_site.admin_view()`` and kept out of ``ATOMIC_REQUESTS``
(``non_atomic_requests``): each may call WeChat Pay, and no transaction is held
while it answers. Each action has its own permission; the decrypted payer phone is
shown only with ``view_payer_phone``. Complaints are fetched through
``get_object()`` and ``get_queryset()``, URLs reversed for this admin site.

Each rendered action form carries a one-time token (:mod:`.once`): a second
submission of one form sends nothing and takes staff to the complaint's page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..admin.lookups import OfferedLookupsOnly
from ..models import FeedbackImage
from ..serving import stored_image_response
from . import links, once, services
from .forms import ConfirmForm, RefundDecisionForm, ReplyForm
from .messages import message_for
from .models import Complaint, ComplaintImage, FormToken, Notification, Reply

APP = "wxpay_complaints"


def _fen(value: int | None) -> str:
    return "" if value is None else f"¥{value / 100:.2f}"


class _ServiceWrittenAdmin(OfferedLookupsOnly):
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
        fieldsets = self.fieldsets
        if obj is not None and obj.apply_refund_amount is None:  # no refund asked: no empty row
            fieldsets = [
                (name, {**options, "fields": [f for f in options["fields"] if f != "refund_requested_yuan"]})
                for name, options in fieldsets
            ]
        if self.has_view_payer_phone_permission(request):
            return [*fieldsets, (_("Consumer"), {"fields": ["payer_phone"]})]
        return fieldsets

    @admin.display(description=_("order amount"), ordering="amount")
    def amount_yuan(self, obj: Complaint) -> str:
        return _fen(obj.amount)

    @admin.display(description=_("refund requested"))
    def refund_requested_yuan(self, obj: Complaint) -> str:
        return _fen(obj.apply_refund_amount)

    @admin.display(description=_("payer phone"))
    def payer_phone(self, obj: Complaint) -> str:
        # Decrypted for this page only; never stored, never logged.
        return services.payer_phone(obj) or message_for("NOT_AVAILABLE")

    # -- the change page -----------------------------------------------------------------------

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        complaint = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if complaint is not None:
            images = list(complaint.images.all()[: services.MAX_CONSUMER_IMAGES])
            context.update(
                consumer_images=[(image, self._url("complaint_image", image.pk)) for image in images],
                more_images=max(0, complaint.image_count - len(images)),
                history=[
                    (entry, [links.shown(url) for url in entry.image_urls or []]) for entry in complaint.history.all()
                ],
                replies=[
                    (reply, self._url("complaint_resend", complaint.pk, reply.pk))
                    for reply in complaint.replies.prefetch_related("images").select_related("sent_by")
                ],
                can_reply=self.has_reply_permission(request) and complaint.state != Complaint.State.PROCESSED,
                can_resend=self.has_reply_permission(request),
                can_complete=self.has_complete_permission(request) and complaint.state == Complaint.State.PROCESSING,
                can_decide_refund=self.has_refund_decision_permission(request)
                and complaint.problem_type == Complaint.ProblemType.REFUND
                and complaint.state != Complaint.State.PROCESSED,
                action_urls={
                    name: self._url(f"complaint_{name}", complaint.pk)
                    for name in ("reply", "complete", "refund", "refresh")
                },
            )
        return super().change_view(request, object_id, form_url, extra_context=context)

    # -- screens of their own -------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        return [
            path("image/<int:pk>/", self._desk_view(self.image_view), name=f"{APP}_complaint_image"),
            path("<path:object_id>/reply/", self._desk_view(self.reply_view), name=f"{APP}_complaint_reply"),
            path(
                "<path:object_id>/reply/<int:reply_pk>/resend/",
                self._desk_view(self.resend_view),
                name=f"{APP}_complaint_resend",
            ),
            path("<path:object_id>/complete/", self._desk_view(self.complete_view), name=f"{APP}_complaint_complete"),
            path("<path:object_id>/refund/", self._desk_view(self.refund_view), name=f"{APP}_complaint_refund"),
            path("<path:object_id>/refresh/", self._desk_view(self.refresh_view), name=f"{APP}_complaint_refresh"),
            path("reply-image/<int:pk>/", self._desk_view(self.reply_image_view), name=f"{APP}_complaint_reply_image"),
            *super().get_urls(),
        ]

    def _desk_view(self, view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        """``view`` for staff (login, CSRF, never_cache), and never inside ``ATOMIC_REQUESTS``.

        Every screen here may call WeChat Pay. The decorator marks the function the
        URL resolves to, so it goes on the outermost wrapper (like the upload admin's).
        """
        return transaction.non_atomic_requests(self.admin_site.admin_view(view))

    def _url(self, name: str, *args: Any) -> str:
        return reverse(f"admin:{APP}_{name}", args=args, current_app=self.admin_site.name)

    def _change_url(self, complaint: Complaint) -> str:
        return self._url("complaint_change", complaint.pk)

    def _complaint(self, request: HttpRequest, object_id: str, allowed: bool) -> Complaint | HttpResponseRedirect:
        """The complaint, through the admin's ``get_object()``; else the admin's redirect with a message."""
        if not allowed or not self.has_view_permission(request):
            raise PermissionDenied
        complaint = self.get_object(request, unquote(object_id))
        if complaint is None:
            # What the admin's own change view does for an id that does not exist (Django's sentence).
            messages.warning(
                request,
                gettext("%(name)s with ID “%(key)s” doesn’t exist. Perhaps it was deleted?")
                % {"name": self.opts.verbose_name, "key": unquote(object_id)},
            )
            return HttpResponseRedirect(reverse("admin:index", current_app=self.admin_site.name))
        return complaint

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
                text = message_for("WITH_REQUEST_ID", message=text, request_id=outcome.request_id)
            messages.error(request, text)

    def _form_view(
        self,
        request: HttpRequest,
        object_id: str,
        *,
        action: str,
        allowed: bool,
        form_class: type[forms.Form],
        template: str,
        title: str,
        act: Callable[[Complaint, dict[str, Any]], services.Outcome],
        done: Callable[[services.Outcome], bool],
    ) -> HttpResponse:
        """A complaint screen with a form: a valid POST calls ``act`` and tells staff the outcome.

        The form's one-time token is claimed first: a form submitted again sends
        nothing and leads to the complaint's page, which shows what the first
        submission did. Back to the complaint when ``done(outcome)``; otherwise the
        form again, with what was typed and a new token. ``title`` is translated
        text with ``%(id)s`` for the complaint id.
        """
        complaint = self._complaint(request, object_id, allowed)
        if isinstance(complaint, HttpResponseRedirect):
            return complaint
        form = form_class(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            claim = once.claim(request.POST.get(once.FIELD), complaint, action)
            if claim is once.Claim.USED:
                messages.warning(request, message_for(f"ALREADY_SUBMITTED_{action.upper()}"))
                return HttpResponseRedirect(self._change_url(complaint))
            if claim is once.Claim.UNKNOWN:
                form.add_error(None, message_for("FORM_EXPIRED"))
            else:
                outcome = act(complaint, form.cleaned_data)
                self._report(request, outcome)
                if done(outcome):
                    return HttpResponseRedirect(self._change_url(complaint))
        return self._render(
            request,
            complaint,
            template,
            title % {"id": complaint.complaint_id},
            form=form,
            form_token=once.issue(complaint, action),
            form_token_field=once.FIELD,
        )

    def reply_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._form_view(
            request,
            object_id,
            action=FormToken.Action.REPLY,
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

    def resend_view(self, request: HttpRequest, object_id: str, reply_pk: int) -> HttpResponse:
        """Send a failed reply again (POST), retrying the images it kept."""
        complaint = self._complaint(request, object_id, self.has_reply_permission(request))
        if isinstance(complaint, HttpResponseRedirect):
            return complaint
        reply = complaint.replies.filter(pk=reply_pk).first()
        if reply is None:
            raise Http404
        if request.method == "POST":
            self._report(request, services.resend_reply(reply, user=request.user))
        return HttpResponseRedirect(self._change_url(complaint))

    def complete_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._form_view(
            request,
            object_id,
            action=FormToken.Action.COMPLETE,
            allowed=self.has_complete_permission(request),
            form_class=ConfirmForm,
            template="complete.html",
            title=gettext("Mark complaint %(id)s complete"),
            act=lambda complaint, data: services.complete(complaint, user=request.user),
            done=lambda outcome: True,  # nothing typed to keep: the complaint's page shows the result
        )

    def refund_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._form_view(
            request,
            object_id,
            action=FormToken.Action.REFUND,
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

    def refresh_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        complaint = self._complaint(request, object_id, True)
        if isinstance(complaint, HttpResponseRedirect):
            return complaint
        if request.method == "POST":
            self._report(request, services.refresh(complaint.complaint_id))
        return HttpResponseRedirect(self._change_url(complaint))

    def image_view(self, request: HttpRequest, pk: int) -> HttpResponseBase:
        """A consumer image, downloaded from WeChat Pay the first time it is asked for."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        # Only images of complaints this admin lists (its get_queryset).
        image = (
            ComplaintImage.objects.select_related("complaint")
            .filter(pk=pk, complaint__in=self.get_queryset(request))
            .first()
        )
        if image is None:
            raise Http404
        outcome = services.download_image(image)
        if not outcome.ok or not image.file:
            # An <img> cannot show a message; the page shows the alt text and the error code.
            return HttpResponse(outcome.message, status=502, content_type="text/plain; charset=utf-8")
        return stored_image_response(image.file)

    def reply_image_view(self, request: HttpRequest, pk: int) -> HttpResponseBase:
        """An image attached to a reply, from the configured storage (no ``MEDIA_URL`` needed)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        # Only images of replies to complaints this admin lists (its get_queryset).
        replied = FeedbackImage.objects.filter(wxpay_complaint_replies__complaint__in=self.get_queryset(request))
        image = get_object_or_404(replied.distinct(), pk=pk)
        return stored_image_response(image.file)


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
        url = reverse(f"admin:{APP}_complaint_change", args=[complaint.pk], current_app=self.admin_site.name)
        return format_html('<a href="{}">{}</a>', url, obj.complaint_id)
