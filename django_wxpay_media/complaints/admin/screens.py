"""The desk's screens of their own: reply, mark complete, refund decision, instant-service reply,
refresh, assign, images.

Each is a view added with ``get_urls()``, wrapped in ``admin_site.admin_view()``
and kept out of ``ATOMIC_REQUESTS`` (``non_atomic_requests``): each may call
WeChat Pay, and no transaction is held while it answers. Complaints are fetched
through ``get_object()`` (so ``get_queryset()`` scopes them).

Each rendered action form carries a one-time token (:mod:`..once`): a second
submission of one form sends nothing and takes staff to the complaint's page. A
screen WeChat Pay would refuse (:mod:`..rules`) is not shown, and a stale page
that posts anyway gets the rule's sentence: nothing is uploaded or sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext

from ...models import FeedbackImage
from ...scoping import for_user
from ...serving import stored_image_response
from .. import once, rules, saved_replies, services
from ..forms import ConfirmForm, InstantServiceForm, RefundDecisionForm, ReplyForm
from ..messages import message_for
from ..models import Complaint, ComplaintImage, FormToken, SavedReply
from .base import APP, DeskBase


class DeskScreens(DeskBase):
    """The complaint desk's own screens (mixed into :class:`ComplaintAdmin <.ComplaintAdmin>`)."""

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
            path("<path:object_id>/instant/", self._desk_view(self.instant_view), name=f"{APP}_complaint_instant"),
            path("<path:object_id>/refresh/", self._desk_view(self.refresh_view), name=f"{APP}_complaint_refresh"),
            path("<path:object_id>/assign/", self._desk_view(self.assign_view), name=f"{APP}_complaint_assign"),
            path("reply-image/<int:pk>/", self._desk_view(self.reply_image_view), name=f"{APP}_complaint_reply_image"),
            *super().get_urls(),
        ]

    def _desk_view(self, view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        """``view`` for staff (login, CSRF, never_cache), and never inside ``ATOMIC_REQUESTS``.

        Every screen here may call WeChat Pay. The decorator marks the function the
        URL resolves to, so it goes on the outermost wrapper (like the upload admin's).
        """
        return transaction.non_atomic_requests(self.admin_site.admin_view(view))

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
        rule: Callable[[Complaint], rules.Verdict],
        initial: Callable[[Complaint], dict[str, Any]] | None = None,
        form_kwargs: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """A complaint screen with a form: a valid POST calls ``act`` and tells staff the outcome.

        The form's one-time token is claimed first: a form submitted again sends
        nothing and leads to the complaint's page, which shows what the first
        submission did. Back to the complaint when ``done(outcome)``; otherwise the
        form again, with what was typed and a new token. ``title`` is translated
        text with ``%(id)s`` for the complaint id.

        When ``rule`` refuses (the page was stale: the complaint moved on), staff get
        its sentence on the complaint's page and nothing is uploaded or sent; a form
        submitted again still hears that it was. ``initial`` prefills a GET's form.
        """
        complaint = self._complaint(request, object_id, allowed)
        if isinstance(complaint, HttpResponseRedirect):
            return complaint
        if request.method != "POST":
            if not (verdict := rule(complaint)):
                return self._refused(request, complaint, verdict)
            form = form_class(initial=initial(complaint) if initial else None, **(form_kwargs or {}))
        else:
            form = form_class(request.POST, request.FILES, **(form_kwargs or {}))
            if form.is_valid():
                claim = once.claim(request.POST.get(once.FIELD), complaint, action)
                if claim is once.Claim.USED:
                    messages.warning(request, message_for(f"ALREADY_SUBMITTED_{action.upper()}"))
                    return HttpResponseRedirect(self._change_url(complaint))
                if claim is once.Claim.UNKNOWN:
                    form.add_error(None, message_for("FORM_EXPIRED"))
                elif not (verdict := rule(complaint)):  # a stale page: the complaint moved on
                    return self._refused(request, complaint, verdict)
                else:
                    outcome = act(complaint, form.cleaned_data)
                    self._report(request, outcome)
                    if done(outcome):
                        return HttpResponseRedirect(self._change_url(complaint))
            elif not (verdict := rule(complaint)):
                return self._refused(request, complaint, verdict)
        return self._render(
            request,
            complaint,
            template,
            title % {"id": complaint.complaint_id},
            form=form,
            form_token=once.issue(complaint, action),
            form_token_field=once.FIELD,
            **(context or {}),
        )

    def _refused(self, request: HttpRequest, complaint: Complaint, verdict: rules.Verdict) -> HttpResponse:
        """The rule's sentence on the complaint's page; nothing was read, uploaded or sent."""
        messages.error(request, verdict.reason)
        return HttpResponseRedirect(self._change_url(complaint))

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
                complaint, data["content"], [*data["earlier_images"], *data["images"]], user=request.user
            ),
            # a kept (failed) reply is on the complaint's page; a refused one is not
            done=lambda outcome: outcome.ok or outcome.reply is not None,
            rule=rules.can_reply,
            initial=lambda complaint: self._saved_reply_initial(request, complaint),
            form_kwargs={"earlier": self.saved_reply_images(request)},
            context={"saved_replies": self._saved_reply_choices(request, object_id)},
        )

    # -- saved replies on the reply screen ------------------------------------------------------

    def saved_reply_images(self, request: HttpRequest) -> Any:
        """Earlier uploads a reply may attach by reference: the images of saved replies, of merchants the user sees."""
        saved = FeedbackImage.objects.filter(wxpay_saved_replies__isnull=False).distinct().order_by("pk")
        return for_user(saved, request.user, "mchid")

    def _saved_reply_choices(self, request: HttpRequest, object_id: str) -> list[tuple[SavedReply, str, bool]]:
        """Each saved reply with the link that starts the reply from it, and whether it is chosen."""
        url = self._url("complaint_reply", object_id)
        chosen = request.GET.get("saved", "")
        return [(saved, f"{url}?saved={saved.pk}", str(saved.pk) == chosen) for saved in SavedReply.objects.all()]

    def _saved_reply_initial(self, request: HttpRequest, complaint: Complaint) -> dict[str, Any]:
        """``?saved=<id>``: the form starts from that saved reply (its text filled in, its images ticked)."""
        chosen = request.GET.get("saved", "")
        # Any text may arrive here: only a plain number that fits a primary key is looked up.
        wanted = chosen.isascii() and chosen.isdigit() and len(chosen) <= 18
        saved = SavedReply.objects.filter(pk=int(chosen)).first() if wanted else None
        if saved is None:
            return {}
        draft = saved_replies.render(saved, complaint, user=request.user)
        return {"content": draft.text, "earlier_images": [image.pk for image in draft.images]}

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
            rule=rules.can_complete,
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
            rule=rules.can_decide_refund,
        )

    def instant_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The instant-service reply, for a complaint WeChat Pay flags ``need_immediate_service``.

        Its ``idempotent_id`` comes from the form's one-time token (claimed before ``act``
        runs): one rendered form is one message at WeChat Pay, however often it is sent.
        """
        return self._form_view(
            request,
            object_id,
            action=FormToken.Action.INSTANT,
            allowed=self.has_reply_permission(request),
            form_class=InstantServiceForm,
            template="instant.html",
            title=gettext("Instant-service reply to complaint %(id)s"),
            act=lambda complaint, data: services.respond_immediately(
                complaint,
                data["text"],
                data.get("images") or [],
                form_token=request.POST[once.FIELD],
                link_text=data.get("link_text") or "",
                link_url=data.get("link_url") or "",
                user=request.user,
            ),
            done=lambda outcome: outcome.ok,
            rule=rules.can_respond_immediately,
        )

    def refresh_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        complaint = self._complaint(request, object_id, True)
        if isinstance(complaint, HttpResponseRedirect):
            return complaint
        if request.method == "POST":
            self._report(request, services.refresh(complaint.complaint_id))
        return HttpResponseRedirect(self._change_url(complaint))

    def assign_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST: assign the complaint to the staff member asking, or (``release``) to nobody."""
        complaint = self._complaint(request, object_id, self.has_assign_permission(request))
        if isinstance(complaint, HttpResponseRedirect):
            return complaint
        if request.method == "POST":
            assignee = None if request.POST.get("release") else request.user
            # One UPDATE of one column: a refresh from WeChat Pay never races it.
            Complaint.objects.filter(pk=complaint.pk).update(assignee=assignee)
            if assignee is None:
                messages.success(request, message_for("UNASSIGNED"))
            else:
                messages.success(request, message_for("ASSIGNED_TO_YOU"))
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
