"""``FeedbackImageAdmin``: what the feedback image admin lists, filters, shows and offers.

Records are written by :mod:`django_wxpay_media.services` only, so every field is
read-only here; adding is uploading (:mod:`.views`), and the action *Upload to
WeChat Pay* finishes pending and failed images.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from django.contrib import admin, messages
from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, ngettext_lazy, pgettext

from .. import services
from ..exceptions import user_message
from ..models import FeedbackImage
from ..wechatpay import errors as wxerrors
from .columns import FeedbackImageColumns
from .views import FeedbackImageViews

__all__ = ["FeedbackImageAdmin"]

logger = logging.getLogger("django_wxpay_media")

Status = FeedbackImage.Status

#: How many file names one failure message lists before "and N more".
MAX_NAMES_IN_MESSAGE = 10

# The action's counts; lazy so that each is translated for the request's language.
_UPLOADED_MESSAGE = ngettext_lazy(
    "%(count)d image was uploaded to WeChat Pay.", "%(count)d images were uploaded to WeChat Pay.", "count"
)
_ALREADY_MESSAGE = ngettext_lazy(
    "%(count)d image was skipped: it is already uploaded.",
    "%(count)d images were skipped: they are already uploaded.",
    "count",
)
_BUSY_MESSAGE = ngettext_lazy(
    "%(count)d image was skipped: it is being uploaded right now.",
    "%(count)d images were skipped: they are being uploaded right now.",
    "count",
)


def _join_names(names: list[str]) -> str:
    """ "a.png, b.png and 3 more" (translated), for messages about many files."""
    separator = pgettext("list separator", ", ")
    shown = separator.join(names[:MAX_NAMES_IN_MESSAGE])
    rest = len(names) - MAX_NAMES_IN_MESSAGE
    if rest > 0:
        shown += " " + ngettext("and %(count)d more", "and %(count)d more", rest) % {"count": rest}
    return shown


@admin.register(FeedbackImage)
class FeedbackImageAdmin(FeedbackImageColumns, FeedbackImageViews):
    """Feedback images: list, add (= upload), view, retry; the system writes the records."""

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
    actions = ["upload_selected"]
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

    # -- the action -------------------------------------------------------------------

    @admin.action(permissions=["upload"], description=_("Upload to WeChat Pay"))
    def upload_selected(self, request: HttpRequest, queryset: QuerySet[FeedbackImage]) -> None:
        """Upload the selected pending and failed images; report uploaded, skipped, failed."""
        images = list(queryset.order_by("pk"))
        already = [image for image in images if image.status == Status.UPLOADED]
        busy = [image for image in images if image.status == Status.UPLOADING]
        todo = [image for image in images if image.status in (Status.PENDING, Status.FAILED)]
        try:
            result = services.upload_images(todo)
        except (wxerrors.ConfigurationError, ImproperlyConfigured) as exc:
            logger.error("Cannot upload feedback images to WeChat Pay: %s", exc)
            self.message_user(request, self._configuration_message(exc), messages.ERROR)
            return
        uploaded = list(result.uploaded)
        already += list(result.skipped)
        failed = list(result.failed)
        for group, template, level in (
            (uploaded, _UPLOADED_MESSAGE, messages.SUCCESS),
            (already, _ALREADY_MESSAGE, messages.INFO),
            (busy, _BUSY_MESSAGE, messages.WARNING),
        ):
            if group:
                self.message_user(request, template % {"count": len(group)}, level)
        # One message per reason, naming the files: "2 images could not be uploaded: <reason> (a.png, b.png)".
        by_reason: dict[str, list[str]] = defaultdict(list)
        for image, error in failed:
            by_reason[user_message(error)].append(image.filename)
        for reason, names in by_reason.items():
            count = len(names)
            self.message_user(
                request,
                ngettext(
                    "%(count)d image could not be uploaded to WeChat Pay: %(reason)s (%(files)s)",
                    "%(count)d images could not be uploaded to WeChat Pay: %(reason)s (%(files)s)",
                    count,
                )
                % {"count": count, "reason": reason, "files": _join_names(names)},
                messages.ERROR,
            )
