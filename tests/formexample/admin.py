"""Complaint replies in the admin: staff attach up to 4 images, uploaded when saved."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.widgets import RelatedFieldWidgetWrapper
from django.http import HttpRequest
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from django_wxpay_media import texts
from django_wxpay_media.admin import file_url, message_level
from django_wxpay_media.outcome import UploadOutcome

from .forms import ComplaintReplyForm
from .models import ComplaintReply


@admin.register(ComplaintReply)
class ComplaintReplyAdmin(admin.ModelAdmin):
    """The admin of a model of your own whose form uploads images (README example)."""

    form = ComplaintReplyForm
    list_display = ("complaint_id", "short_content", "image_count", "created_at")
    search_fields = ("complaint_id", "content")
    readonly_fields = ("attached_images", "media_id_list", "created_at")

    class Media:
        # The app's admin styles (classes, no inline style=): fine under a strict CSP.
        css = {"all": ("django_wxpay_media/admin.css",)}

    def get_fieldsets(self, request: HttpRequest, obj: ComplaintReply | None = None) -> Any:
        if obj is None:
            return ((None, {"fields": ("complaint_id", "content", "new_images")}),)
        return (
            (None, {"fields": ("complaint_id", "content", "created_at")}),
            (_("Images"), {"fields": ("attached_images", "images", "new_images", "media_id_list")}),
        )

    def get_form(self, request: HttpRequest, obj: ComplaintReply | None = None, change: bool = False, **kwargs: Any):
        form = super().get_form(request, obj, change=change, **kwargs)
        # The images' uploaded_by: a class per request, as modelform_factory makes anyway.
        user = request.user if request.user.is_authenticated else None
        return type(form.__name__, (form,), {"upload_user": user})

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)

        # The admin saves inside a transaction; the new images are uploaded once it has
        # committed (no transaction held while WeChat Pay answers). Staff still read how
        # each went: the messages are added then, before the redirect is sent.
        def report(outcomes: list[UploadOutcome]) -> None:
            for outcome in outcomes:
                self.message_user(request, texts.outcome_message(outcome), message_level(outcome))

        form.on_uploads_done(report)

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if (
            db_field.name == "images"
            and formfield is not None
            and isinstance(formfield.widget, RelatedFieldWidgetWrapper)
        ):
            # New images come through the file input; the list offers only what is attached,
            # so no "add another" link to the feedback image admin.
            formfield.widget = formfield.widget.widget
        return formfield

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).prefetch_related("images")

    @admin.display(description=_("content"))
    def short_content(self, obj: ComplaintReply) -> str:
        return Truncator(obj.content).chars(60)

    @admin.display(description=_("images"))
    def image_count(self, obj: ComplaintReply) -> int:
        return len(obj.images.all())

    @admin.display(description=_("preview"))
    def attached_images(self, obj: ComplaintReply) -> str:
        images = list(obj.images.order_by("created_at", "pk"))
        if not images:
            return self.get_empty_value_display()
        return format_html_join(
            "",
            '<figure class="wxpay-figure"><img src="{}" alt="{}"><figcaption>{}</figcaption></figure>',
            ((file_url(image) or "", image.filename, image.filename) for image in images),
        )

    @admin.display(description=_("media IDs"))
    def media_id_list(self, obj: ComplaintReply) -> str:
        media_ids = obj.media_ids
        if not media_ids:
            return self.get_empty_value_display()
        return format_html_join(mark_safe("<br>"), "<code>{}</code>", ((media_id,) for media_id in media_ids))
