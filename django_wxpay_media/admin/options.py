"""``FeedbackImageAdmin``: what the feedback image admin lists, filters, shows and offers.

Records are written by :mod:`django_wxpay_media.services` only, so every field is
read-only here; adding is uploading (:mod:`.views`), and the action *Upload to
WeChat Pay* finishes pending and failed images.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from .. import conf, services, texts
from ..models import FeedbackImage
from ..outcome import UploadOutcome, UploadState
from ..scoping import visible_mchids
from .accounts import AccountColumn
from .columns import FeedbackImageColumns
from .levels import message_level
from .lookups import OfferedLookupsOnly
from .scoped import MerchantScopedAdmin
from .views import FeedbackImageViews

__all__ = ["FeedbackImageAdmin"]

logger = logging.getLogger("django_wxpay_media")

Status = FeedbackImage.Status


@admin.register(FeedbackImage)
class FeedbackImageAdmin(
    MerchantScopedAdmin, AccountColumn, OfferedLookupsOnly, FeedbackImageColumns, FeedbackImageViews
):
    """Feedback images: list, add (= upload), view, retry; the system writes the records.

    Staff see the images of the merchants they may see (``MerchantScopedAdmin``).
    """

    merchant_field = "mchid"

    list_display = (
        "thumbnail",
        "filename",
        "human_size",
        "status_badge",
        "short_media_id",
        "created_at",
        "uploaded_at",
    )
    list_display_links = ("thumbnail", "filename")
    list_filter = ("status",)
    search_fields = ("filename", "^sha256", "media_id")
    ordering = ("-created_at", "-pk")
    list_select_related = ("uploaded_by",)
    actions = ("upload_selected",)
    readonly_fields = (
        "preview",
        "filename",
        "status_badge",
        "media_id",
        "sha256",
        "human_size",
        "content_type",
        "mchid",
        "attempts",
        "request_id",
        "error_code",
        "error_message",
        "uploaded_by",
        "created_at",
        "upload_started_at",
        "uploaded_at",
    )
    fieldsets = (
        (None, {"fields": ("preview", "filename", "status_badge", "media_id")}),
        (_("File"), {"fields": ("human_size", "content_type", "sha256")}),
        (
            _("Upload"),
            {
                "fields": (
                    "mchid",
                    "attempts",
                    "request_id",
                    "uploaded_by",
                    "created_at",
                    "upload_started_at",
                    "uploaded_at",
                )
            },
        ),
        (_("Last error"), {"fields": ("error_code", "error_message")}),
    )
    change_form_template = "admin/django_wxpay_media/feedbackimage/change_form.html"

    class Media:
        # Classes instead of inline styles: the admin stays usable under a strict CSP.
        css = {"all": ("django_wxpay_media/admin.css",)}

    def has_change_permission(self, request: HttpRequest, obj: FeedbackImage | None = None) -> bool:
        # Records are written by the service only; the change page is a read-only view.
        return False

    # -- uploading only for the merchants one sees ------------------------------------------

    def uploadable_accounts(self, request: HttpRequest) -> list[str]:
        """The accounts ``request.user`` may upload for: those whose merchant they see."""
        try:
            names = list(conf.account_names())
        except ImproperlyConfigured:  # the add view's banner says the settings are wrong
            names = [conf.DEFAULT_ACCOUNT]
        mchids = visible_mchids(request.user)
        if mchids is None:
            return names
        allowed = []
        for name in names:
            try:
                if conf.get_account(name).mchid in mchids:
                    allowed.append(name)
            except ImproperlyConfigured:  # nothing can be uploaded through it: the add view says why
                allowed.append(name)
        return allowed

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Adding uploads for a merchant: staff who see none of the site's merchants cannot.
        return super().has_add_permission(request) and bool(self.uploadable_accounts(request))

    def make_add_form(self, request: HttpRequest, *args: Any) -> Any:
        form = super().make_add_form(request, *args)
        field = form.fields.get("account")
        if field is not None:  # several accounts: offer only those whose merchant the user sees
            allowed = set(self.uploadable_accounts(request))
            field.choices = [(name, label) for name, label in field.choices if name in allowed]
        return form

    # -- the action -------------------------------------------------------------------

    @admin.action(permissions=["upload"], description=_("Upload to WeChat Pay"))
    def upload_selected(self, request: HttpRequest, queryset: QuerySet[FeedbackImage]) -> None:
        """Upload the selected images; report the outcomes: counts, and failures by reason.

        Uploaded images come back ``REUSED`` without a request; an image another
        request is sending right now is ``BUSY`` at once (not waited for here). An
        upload abandoned long ago (see ``FeedbackImage.is_stale``) is taken over.
        """
        images = list(queryset.order_by("pk"))
        running = {image.pk for image in images if image.is_busy}
        busy = [UploadOutcome(UploadState.BUSY, image, source=image) for image in images if image.pk in running]
        todo = [
            UploadOutcome(
                UploadState.REUSED if image.status == Status.UPLOADED else UploadState.QUEUED, image, source=image
            )
            for image in images
            if image.pk not in running
        ]
        try:
            for account in sorted({image.account for image in images}) or [conf.DEFAULT_ACCOUNT]:
                conf.get_client(account)  # bad settings: one polite sentence, before anything is sent or queued
            # Uploaded now, or handed to a task worker (BACKGROUND_UPLOADS): upload_stored decides.
            # A stale claim (an upload abandoned long ago) is taken over by the upload.
            outcomes = services.upload_stored(todo)  # the changelist is non-atomic: uploaded now
        except ImproperlyConfigured as exc:  # the details go to the log; staff get a polite sentence
            logger.error("Cannot upload feedback images to WeChat Pay: %s", exc)
            self.message_user(request, str(texts.NOT_CONFIGURED), messages.ERROR)
            return
        outcomes += busy
        one_of = {outcome.state: outcome for outcome in outcomes}  # for each state's message level
        for state, text in texts.summary_messages(outcomes):
            if state is not UploadState.FAILED:  # failures get one message per reason, below
                self.message_user(request, text, message_level(one_of[state]))
        # "2 images could not be uploaded to WeChat Pay: <reason> (a.png, b.png)"
        by_reason: dict[str, list[str]] = defaultdict(list)
        for outcome in outcomes:
            if outcome.state is UploadState.FAILED and outcome.error is not None:
                by_reason[texts.error_message(outcome.error)].append(outcome.filename)
        for reason, names in by_reason.items():
            count = len(names)
            self.message_user(
                request,
                texts.ADMIN_FAILED_BY_REASON % {"count": count, "reason": reason, "files": texts.join_names(names)},
                messages.ERROR,
            )
