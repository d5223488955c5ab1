"""The feedback image admin's own screens: add (= upload), retry, and the stored file.

Both are ordinary views registered in :meth:`FeedbackImageViews.get_urls` through
``admin_site.admin_view()`` (staff login, ``never_cache``, CSRF protection), on
Django's public admin API. Neither they nor the changelist (where the action
uploads) runs inside a database transaction, not even with ``ATOMIC_REQUESTS``:
an upload is a network call, and the service commits each state as it happens
(uploading, then uploaded or failed), so no transaction or lock is held while
WeChat Pay answers and other requests see the record's progress.

What staff read comes from the upload's outcome (:meth:`UploadOutcome.message
<django_wxpay_media.outcome.UploadOutcome.message>`), at the level
:func:`~django_wxpay_media.admin.levels.message_level` gives it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.admin.options import IS_POPUP_VAR, TO_FIELD_VAR
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import quote, unquote
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext

from .. import conf, services, texts
from ..admin_forms import FeedbackImageAddForm
from ..exceptions import RecordedError
from ..models import FeedbackImage
from ..outcome import UploadOutcome, UploadState
from ..serving import stored_image_response
from .levels import message_level

__all__ = ["FeedbackImageViews"]

logger = logging.getLogger("django_wxpay_media")

Status = FeedbackImage.Status


class FeedbackImageViews(admin.ModelAdmin):
    """The add view (one file, uploaded when saved) and the retry view of the admin."""

    #: The form of the add view; it validates, the view uploads.
    add_form = FeedbackImageAddForm

    # -- URLs ---------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        info = (self.opts.app_label, self.opts.model_name)
        names = {"add": "{}_{}_add".format(*info), "changelist": "{}_{}_changelist".format(*info)}
        # Our add view takes the admin's "add/" URL and its name, so the changelist's
        # "Add" button and reverse("admin:<app>_feedbackimage_add") lead to it. The
        # changelist (where the action runs) is registered again only to keep it out
        # of ATOMIC_REQUESTS, like the two views that upload.
        own = [
            path("", self._uploading_view(self.changelist_view), name=names["changelist"]),
            path("add/", self._uploading_view(self.upload_add_view), name=names["add"]),
            path(
                "<path:object_id>/upload/",
                self._uploading_view(self.retry_view),
                name="{}_{}_upload".format(*info),
            ),
            path("<path:object_id>/file/", self.admin_site.admin_view(self.file_view), name="{}_{}_file".format(*info)),
        ]
        rest = [pattern for pattern in super().get_urls() if getattr(pattern, "name", None) not in names.values()]
        return own + rest

    def _uploading_view(self, view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        """``view`` for staff (login, CSRF, never_cache) and never in a transaction.

        ``admin_site.admin_view()`` does what the admin does for its own views;
        ``non_atomic_requests`` keeps a site's ``ATOMIC_REQUESTS`` from wrapping an
        upload, a network call, in a transaction.
        """
        return transaction.non_atomic_requests(self.admin_site.admin_view(view))

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """The admin's changelist, with the "not set up" banner when uploads cannot work."""
        return super().changelist_view(request, {**self.setup_banner_context(request), **(extra_context or {})})

    def setup_banner_context(self, request: HttpRequest) -> dict[str, Any]:
        """Context for the "uploads are not set up" banner of the changelist and the add page.

        Empty when ``WXPAY_MEDIA`` has no error (:func:`~django_wxpay_media.conf.is_configured`).
        Otherwise ``wxpay_not_configured`` is the staff sentence, and superusers also
        get ``wxpay_setup_check_ids``: the ids of the failing checks, for whoever fixes the settings.
        """
        try:
            if conf.is_configured():
                return {}
            ids = [problem.check_id for problem in conf.configuration_problems() if problem.is_error]
        except Exception:  # a banner must never turn the page into an error page
            logger.exception("Could not evaluate WXPAY_MEDIA for the admin's banner.")
            ids = []
        context: dict[str, Any] = {"wxpay_not_configured": texts.NOT_CONFIGURED}
        if request.user.is_superuser and ids:
            context["wxpay_setup_check_ids"] = texts.SETUP_CHECK_IDS % {"ids": ", ".join(ids)}
        return context

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Anything that calls the admin's add view gets the upload view."""
        return self.upload_add_view(request)

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> LogEntry:
        """The admin's log entry, whose text is the file name only.

        ``str(obj)`` adds the status in the language of the moment; stored in the
        entry, it would show in every language (and stay "Uploading" forever). The
        change message stays JSON (``[{"added": {}}]``), which the admin translates
        when it shows it.
        """
        user_id: Any = request.user.pk  # staff only: the admin's views require a login
        return LogEntry.objects.create(
            user_id=user_id,
            content_type=ContentType.objects.get_for_model(obj, for_concrete_model=False),
            object_id=str(obj.pk),
            object_repr=(obj.filename or str(obj.pk))[:200],
            action_flag=ADDITION,
            change_message=json.dumps(message) if isinstance(message, list) else message,
        )

    def _change_url(self, obj: FeedbackImage) -> str:
        return reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
            args=(quote(obj.pk),),
            current_app=self.admin_site.name,
        )

    def _keep_filters(self, request: HttpRequest, url: str) -> str:
        """``url`` with the changelist's filters carried along, as Django's ``response_add`` does."""
        context: dict[str, Any] = {"preserved_filters": self.get_preserved_filters(request), "opts": self.opts}
        return add_preserved_filters(context, url)

    # -- add: one file, uploaded when saved ------------------------------------------------

    def make_add_form(self, request: HttpRequest, *args: Any) -> Any:
        """The add view's form for this request (a subclass may narrow its choices)."""
        return self.add_form(*args)

    def upload_add_view(self, request: HttpRequest) -> HttpResponse:
        """GET: the add form. POST: validate the file, upload it, report what happened.

        A file WeChat Pay would refuse is a form error (nothing stored or sent). A
        failed upload keeps its record and leads to that record's page, which says why
        and offers *Retry upload*.
        """
        if not self.has_add_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            form = self.make_add_form(request, request.POST, request.FILES)
            if form.is_valid():
                file = form.cleaned_data["upload"]
                user = request.user if request.user.is_authenticated else None
                response = self._upload_added(request, form, file, user)
                if response is not None:
                    return response
        else:
            form = self.make_add_form(request)
        return self._render_add_form(request, form)

    def _upload_added(self, request: HttpRequest, form: Any, file: Any, user: Any) -> HttpResponse | None:
        """Upload the validated file; the response, or ``None`` after adding a form error."""
        # Sending the bytes of a failed record again is a retry: without the upload
        # permission the existing record and its failure are reported, nothing is sent.
        try:
            # Stored, then uploaded now or handed to a task worker (BACKGROUND_UPLOADS).
            stored = services.store(
                file,
                filename=file.name,
                user=user,
                retry_failed=self.has_upload_permission(request),
                account=form.cleaned_data.get("account"),  # asked only when the site has several
            )
            [outcome] = services.upload_stored([stored])  # this view is non-atomic: uploaded now
        except ImproperlyConfigured as exc:  # the details go to the log; staff get a polite sentence
            logger.error("Cannot upload %r to WeChat Pay: %s", file.name, exc)
            form.add_error("upload", str(texts.NOT_CONFIGURED))
            return None
        obj = outcome.record
        if obj is None:  # rejected: nothing stored, so the form says why
            form.add_error("upload", texts.outcome_message(outcome))
            return None
        if outcome.state in (UploadState.SENT, UploadState.FAILED, UploadState.QUEUED) and not isinstance(
            outcome.error, RecordedError
        ):
            # a record this request added (a RecordedError is an earlier failure reported back)
            self.log_addition(request, obj, [{"added": {}}])
        self._report(request, outcome)
        # Queued for a worker: the usual next page, where the record shows "pending".
        return self._response_after_add(request, obj, failed=not outcome.ok and outcome.state is not UploadState.QUEUED)

    def _response_after_add(self, request: HttpRequest, obj: FeedbackImage, *, failed: bool) -> HttpResponse:
        """Where staff go next: the buttons of Django's ``response_add``, filters kept."""
        if IS_POPUP_VAR in request.POST:
            return self.response_add(request, obj)  # the popup's answer to its opener (no message)
        can_view = self.has_view_permission(request, obj)
        if failed:  # the kept record's page says why (and offers Retry upload when it failed)
            url = self._change_url(obj) if can_view else request.path
            return HttpResponseRedirect(self._keep_filters(request, url))
        if "_addanother" in request.POST:
            return HttpResponseRedirect(self._keep_filters(request, request.path))
        if "_continue" in request.POST and can_view:
            return HttpResponseRedirect(self._keep_filters(request, self._change_url(obj)))
        return self.response_post_save_add(request, obj)  # the changelist, filters kept

    def _render_add_form(self, request: HttpRequest, form: Any) -> HttpResponse:
        """The add page with the admin's look, through its own change form template."""
        fieldsets = [(None, {"fields": list(form.fields)})]
        adminform = helpers.AdminForm(form, fieldsets, {}, model_admin=self)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Add %s") % self.opts.verbose_name,
            "subtitle": None,
            "adminform": adminform,
            "object_id": None,
            "original": None,
            "is_popup": IS_POPUP_VAR in request.POST or IS_POPUP_VAR in request.GET,
            "to_field": request.POST.get(TO_FIELD_VAR, request.GET.get(TO_FIELD_VAR)),
            "media": self.media + adminform.media,
            "inline_admin_formsets": [],
            "errors": helpers.AdminErrorList(form, []),
            "preserved_filters": self.get_preserved_filters(request),
            **self.setup_banner_context(request),
        }
        request.current_app = self.admin_site.name
        return self.render_change_form(request, context, add=True, form_url="")

    # -- the record's page and its retry button ----------------------------------------------

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = dict(extra_context or {})
        obj = self.get_object(request, unquote(object_id))
        # Pending, failed, or an upload abandoned (its process died): retrying is safe.
        extra_context["can_upload"] = obj is not None and obj.is_retryable and self.has_upload_permission(request)
        if obj is not None and obj.status == Status.FAILED:
            # The stored code, explained in the staff member's language.
            extra_context["upload_error_text"] = texts.error_message(RecordedError.from_image(obj))
        extra_context["upload_url"] = reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_upload",
            args=(object_id,),
            current_app=self.admin_site.name,
        )
        return super().change_view(request, object_id, form_url, extra_context)

    def has_upload_permission(self, request: HttpRequest) -> bool:
        """May this user send images to WeChat Pay (the action and the retry button)?"""
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.upload_{opts.model_name}")

    def retry_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST: upload (or retry) one pending, failed or abandoned image, then show its page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_upload_permission(request):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            # What Django's own views say for a record that is gone.
            self.message_user(
                request,
                texts.ADMIN_RECORD_GONE % {"name": self.opts.verbose_name, "key": unquote(object_id)},
                messages.WARNING,
            )
            changelist = reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist", current_app=self.admin_site.name
            )
            return HttpResponseRedirect(changelist)
        obj_url = self._change_url(obj)
        if obj.is_busy:
            # Another request is sending it: say so now rather than wait for it here.
            self._report(request, UploadOutcome(UploadState.BUSY, obj, source=obj))
            return HttpResponseRedirect(obj_url)
        try:
            outcome = services.retry(obj)
        except ImproperlyConfigured as exc:
            logger.error("Cannot upload feedback image %s to WeChat Pay: %s", obj.pk, exc)
            self.message_user(request, str(texts.NOT_CONFIGURED), messages.ERROR)
        else:
            self._report(request, outcome)
        return HttpResponseRedirect(obj_url)

    # -- the stored file, for the thumbnail and the preview ------------------------------------

    def file_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        """The stored image, for staff who may view the record; any storage, no ``MEDIA_URL``."""
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        return stored_image_response(obj.file)

    # -- messages ---------------------------------------------------------------------------

    def _report(self, request: HttpRequest, outcome: UploadOutcome) -> None:
        """Tell staff what happened to one upload: the outcome's own sentence, at its level.

        A failure kept on its record also says how to finish it from this admin.
        """
        text = texts.outcome_message(outcome)
        if outcome.state is UploadState.FAILED:
            if self.has_upload_permission(request):
                hint = str(texts.ADMIN_RETRY_HINT)
            else:
                hint = str(texts.ADMIN_RETRY_HINT_ASK)
            text = f"{text} {hint}"
        self.message_user(request, text, message_level(outcome))
