"""The admin screens customer-service staff use to upload feedback images.

``FeedbackImageAdmin`` lists every image with a thumbnail and its upload status;
its add form takes one file and uploads it when saved; a failed upload is kept
(with WeChat Pay's code, message and Request-ID) and can be retried from the
record's page or with the "Upload to WeChat Pay" action. Records are written by
:mod:`django_wxpay_media.services` only, so their fields are read-only here.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import TYPE_CHECKING, Any, ClassVar, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR, csrf_protect_m
from django.contrib.admin.utils import flatten_fieldsets, quote, unquote
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.defaultfilters import filesizeformat
from django.templatetags.static import static
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext, pgettext
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from . import services
from .exceptions import RecordedError, user_message
from .outcome import UploadState
from .forms import FeedbackImageField, FeedbackImageFormMixin
from .models import FeedbackImage
from .wechatpay import errors as wxerrors

if TYPE_CHECKING:  # pragma: no cover
    from django.contrib.admin.options import _FieldsetSpec

logger = logging.getLogger("django_wxpay_media")

Status = FeedbackImage.Status

#: How many file names one failure message lists before "and N more".
MAX_NAMES_IN_MESSAGE = 10

_STATUS_STYLE: dict[str, tuple[str, str]] = {
    # status: (colour, icon in django.contrib.admin's static files)
    Status.PENDING: ("#6b6b6b", "admin/img/icon-clock.svg"),
    Status.UPLOADING: ("#1f6fb2", "admin/img/icon-clock.svg"),
    Status.UPLOADED: ("#2e7d32", "admin/img/icon-yes.svg"),
    Status.FAILED: ("#ba2121", "admin/img/icon-no.svg"),
}


def file_url(image: FeedbackImage) -> str | None:
    """The stored file's URL, or ``None`` when there is none (or storage cannot say)."""
    if not image.file:
        return None
    try:
        return image.file.url
    except Exception:  # a storage backend without URLs, or one that is down: no preview
        logger.warning("No URL for the stored file of feedback image %s", image.pk, exc_info=True)
        return None


def _join_names(names: list[str]) -> str:
    """ "a.png, b.png and 3 more" (translated), for messages about many files."""
    separator = pgettext("list separator", ", ")
    shown = separator.join(names[:MAX_NAMES_IN_MESSAGE])
    rest = len(names) - MAX_NAMES_IN_MESSAGE
    if rest > 0:
        shown += " " + ngettext("and %(count)d more", "and %(count)d more", rest) % {"count": rest}
    return shown


class FeedbackImageAddForm(FeedbackImageFormMixin, forms.ModelForm):
    """The admin's add form: one file, validated on the form, uploaded on save.

    A file WeChat Pay would refuse is a field error (nothing is stored or sent).
    A valid file is stored and uploaded; if the upload fails the form is still
    valid, because a record now exists (status *failed*, file kept):
    ``failure`` holds the cause and the admin reports it on that record's page.
    """

    upload = FeedbackImageField(
        label=_("Image"),
        upload=False,  # uploaded in clean() below, so that a failure keeps the record
        help_text=_(
            "A JPEG, PNG or BMP image of at most 2 MB. It is uploaded to WeChat Pay when you save; "
            "an image that was uploaded before is reused and not sent again."
        ),
    )

    class Meta:
        model = FeedbackImage
        fields: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The record the upload produced (uploaded, reused or failed).
        self.image: FeedbackImage | None = None
        #: Why the upload failed (a WeChatPayError), when it did; the record is kept.
        self.failure: BaseException | None = None
        #: True when the bytes had been uploaded before and nothing was sent.
        self.reused = False

    def clean(self) -> dict[str, Any]:
        cleaned = cast(dict[str, Any], super().clean())  # ModelForm.clean() returns cleaned_data
        file = cleaned.get("upload")
        if not file:
            return cleaned  # the field has its error already
        field: FeedbackImageField = self.fields["upload"]  # type: ignore[assignment]
        try:
            outcome = services.upload(file, filename=file.name, user=field.user)
        except ImproperlyConfigured as exc:
            self.add_error("upload", field.upload_error(exc, file.name))
            return cleaned
        if outcome.record is None:
            # Nothing stored (h1: outcome-based until h1b's admin rewrite lands).
            self.add_error("upload", field.outcome_error(outcome, file.name))
        else:
            # A failed record exists (file kept): the form is valid and the admin
            # reports the failure on the record's page, where it can be retried.
            self.image = outcome.record
            self.failure = None if outcome.ok else outcome.error
            self.reused = outcome.state is UploadState.REUSED
        return cleaned

    def save(self, commit: bool = True) -> FeedbackImage:
        """The record the service wrote in :meth:`clean` (nothing else to save)."""
        if self.image is None:
            raise ValueError("The image could not be uploaded: the form has errors.")
        self.save_m2m = lambda: None  # type: ignore[method-assign]  # as ModelForm.save(commit=False) does
        return self.image


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


@admin.register(FeedbackImage)
class FeedbackImageAdmin(admin.ModelAdmin):
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
    add_form = FeedbackImageAddForm
    add_fieldsets: ClassVar[_FieldsetSpec] = ((None, {"fields": ("upload",)}),)
    change_form_template = "admin/django_wxpay_media/feedbackimage/change_form.html"

    # -- permissions ------------------------------------------------------------------

    def has_upload_permission(self, request: HttpRequest) -> bool:
        """May this user send images to WeChat Pay (the action and the retry button)?"""
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.upload_{opts.model_name}")

    def has_change_permission(self, request: HttpRequest, obj: FeedbackImage | None = None) -> bool:
        # Records are written by the service only; the change page is a read-only view.
        return False

    # -- columns ----------------------------------------------------------------------

    @admin.display(description=_("image"))
    def thumbnail(self, obj: FeedbackImage) -> str:
        url = file_url(obj)
        if url is None:
            return self.get_empty_value_display()
        return format_html(
            '<img src="{}" alt="{}" loading="lazy" width="64" height="48" style="object-fit:contain;vertical-align:middle">',
            url,
            obj.filename,
        )

    @admin.display(description=_("preview"))
    def preview(self, obj: FeedbackImage) -> str:
        url = file_url(obj)
        if url is None:
            return self.get_empty_value_display()
        return format_html(
            '<a href="{}" target="_blank" rel="noopener"><img src="{}" alt="{}" '
            'style="max-width:480px;max-height:360px;border:1px solid var(--hairline-color, #ccc)"></a>',
            url,
            url,
            obj.filename,
        )

    @admin.display(description=_("size"), ordering="size")
    def human_size(self, obj: FeedbackImage) -> str:
        if obj.size is None:
            return self.get_empty_value_display()
        return format_html('<span style="white-space:nowrap">{}</span>', filesizeformat(obj.size))

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj: FeedbackImage) -> str:
        colour, icon = _STATUS_STYLE.get(obj.status, ("inherit", "admin/img/icon-unknown.svg"))
        title = ""
        if obj.status == Status.FAILED:  # the reason, in the staff member's language, on hover
            title = user_message(RecordedError.from_image(obj))
        return format_html(
            '<span style="color:{};font-weight:bold;white-space:nowrap" title="{}">'
            '<img src="{}" alt="" style="vertical-align:text-bottom"> {}</span>',
            colour,
            title,
            static(icon),
            obj.get_status_display(),
        )

    @admin.display(description=_("media ID"), ordering="media_id")
    def short_media_id(self, obj: FeedbackImage) -> str:
        if not obj.media_id:
            return self.get_empty_value_display()
        shown = obj.media_id if len(obj.media_id) <= 24 else obj.media_id[:23] + "…"
        return format_html('<code title="{}">{}</code>', obj.media_id, shown)

    # -- add: one file, uploaded on save -----------------------------------------------

    def get_fieldsets(self, request: HttpRequest, obj: FeedbackImage | None = None) -> Any:
        if obj is None:
            return self.add_fieldsets
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: FeedbackImage | None = None) -> Any:
        return () if obj is None else self.readonly_fields

    def get_form(self, request: HttpRequest, obj: FeedbackImage | None = None, change: bool = False, **kwargs: Any):
        if obj is None:
            kwargs["form"] = self.add_form
            kwargs["fields"] = flatten_fieldsets(self.add_fieldsets)
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            # A class per request (as modelform_factory makes anyway): the uploader is this user.
            user = request.user if request.user.is_authenticated else None
            form = type(form.__name__, (form,), {"upload_user": user})
        return form

    @csrf_protect_m
    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if object_id is None and request.method == "POST":
            # The add form makes a network call. The admin would run it inside one
            # transaction; without it the service commits each state as it happens
            # (uploading, then uploaded or failed), so other requests uploading the
            # same bytes see it, and no transaction (nor SQLite's write lock) stays
            # open during the HTTP exchange.
            return self._changeform_view(  # type: ignore[attr-defined]  # Django's private, untransacted view
                request, object_id, form_url, extra_context
            )
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: FeedbackImage, form: Any, change: bool) -> None:
        if change:  # pragma: no cover - the change page is read-only
            super().save_model(request, obj, form, change)
        # On add the service has saved the record already.

    def response_add(
        self, request: HttpRequest, obj: FeedbackImage, post_url_continue: str | None = None
    ) -> HttpResponse:
        form = getattr(request, "_wxpay_add_form", None)
        error = form.failure if form is not None else None
        if IS_POPUP_VAR in request.POST:
            if error is not None:
                self._report_failure(request, obj, error)
            return super().response_add(request, obj, post_url_continue)
        obj_url = reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
            args=(quote(obj.pk),),
            current_app=self.admin_site.name,
        )
        if error is not None:
            self._report_failure(request, obj, error)
            if self.has_view_permission(request, obj):
                return HttpResponseRedirect(obj_url)
            return HttpResponseRedirect(request.path)
        if form is not None and form.reused:
            self.message_user(
                request,
                gettext(
                    "This image was already uploaded to WeChat Pay on %(date)s as “%(filename)s”; "
                    "its media_id %(media_id)s is used again and nothing was sent."
                )
                % {
                    "date": date_format(timezone.localtime(obj.uploaded_at), "DATETIME_FORMAT"),
                    "filename": obj.filename,
                    "media_id": obj.media_id,
                },
                messages.SUCCESS,
            )
        else:
            self.message_user(
                request,
                gettext("“%(filename)s” was uploaded to WeChat Pay. Its media_id is %(media_id)s.")
                % {"filename": obj.filename, "media_id": obj.media_id},
                messages.SUCCESS,
            )
        if "_addanother" in request.POST:
            return HttpResponseRedirect(request.path)
        if "_continue" in request.POST and self.has_view_permission(request, obj):
            return HttpResponseRedirect(obj_url)
        return self.response_post_save_add(request, obj)

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> Any:
        if not change:
            request._wxpay_add_form = form  # type: ignore[attr-defined]  # read by response_add
        return super().save_form(request, form, change)

    def _report_failure(self, request: HttpRequest, obj: FeedbackImage, error: Any) -> None:
        params = {"filename": obj.filename, "reason": user_message(error)}
        if self.has_upload_permission(request):
            text = gettext(
                "“%(filename)s” could not be uploaded to WeChat Pay: %(reason)s "
                "The image has been kept; use “Retry upload” on this page to try again."
            )
        else:
            text = gettext(
                "“%(filename)s” could not be uploaded to WeChat Pay: %(reason)s "
                "The image has been kept and can be uploaded again later by a colleague allowed to upload."
            )
        self.message_user(request, text % params, messages.ERROR)

    # -- change page: preview and the retry button --------------------------------------

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<path:object_id>/upload/",
                self.admin_site.admin_view(self.upload_view),
                name=f"{self.opts.app_label}_{self.opts.model_name}_upload",
            ),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = dict(extra_context or {})
        obj = self.get_object(request, unquote(object_id))
        extra_context["can_upload"] = (
            obj is not None and obj.status in (Status.PENDING, Status.FAILED) and self.has_upload_permission(request)
        )
        if obj is not None and obj.status == Status.FAILED:
            # The stored code, explained in the staff member's language.
            extra_context["upload_error_text"] = user_message(RecordedError.from_image(obj))
        extra_context["upload_url"] = reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_upload",
            args=(object_id,),
            current_app=self.admin_site.name,
        )
        return super().change_view(request, object_id, form_url, extra_context)

    def upload_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST: upload (or retry) one pending or failed image, then show its page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_upload_permission(request):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(  # type: ignore[attr-defined]  # Django's private helper
                request, self.opts, object_id
            )
        obj_url = reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
            args=(quote(obj.pk),),
            current_app=self.admin_site.name,
        )
        if obj.status == Status.UPLOADED:
            self.message_user(
                request,
                gettext("“%(filename)s” is already uploaded; its media_id is %(media_id)s.")
                % {"filename": obj.filename, "media_id": obj.media_id},
                messages.INFO,
            )
            return HttpResponseRedirect(obj_url)
        if obj.status == Status.UPLOADING:
            self.message_user(
                request,
                gettext("“%(filename)s” is being uploaded right now; reload this page in a moment.")
                % {"filename": obj.filename},
                messages.WARNING,
            )
            return HttpResponseRedirect(obj_url)
        try:
            outcome = services.retry(obj)
        except ImproperlyConfigured as exc:
            logger.error("Cannot upload feedback image %s to WeChat Pay: %s", obj.pk, exc)
            self.message_user(request, self._configuration_message(exc), messages.ERROR)
            return HttpResponseRedirect(obj_url)
        if outcome.ok:
            self.message_user(request, outcome.message(), messages.SUCCESS)
        elif outcome.error is not None and outcome.record is not None:
            self._report_failure(request, outcome.record, outcome.error)
        else:
            self.message_user(request, outcome.message(), messages.WARNING)
        return HttpResponseRedirect(obj_url)

    @staticmethod
    def _configuration_message(exc: Exception) -> str:
        if isinstance(exc, (wxerrors.ConfigurationError, ImproperlyConfigured)):
            return gettext(
                "Uploading to WeChat Pay is not set up correctly on this site. Please contact your administrator."
            )
        return gettext("The upload to WeChat Pay failed: %(reason)s") % {"reason": user_message(exc)}

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
