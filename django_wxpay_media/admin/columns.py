"""What the feedback image admin shows of a record: thumbnail, preview, size, status, media_id.

The columns carry CSS classes (styled by ``django_wxpay_media/admin.css``), never an
inline ``style=``, so that the admin works under a strict Content Security Policy.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import quote
from django.template.defaultfilters import filesizeformat
from django.templatetags.static import static
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .. import texts
from ..exceptions import RecordedError
from ..models import FeedbackImage

__all__ = ["STATUS_ICONS", "FeedbackImageColumns", "file_url"]

Status = FeedbackImage.Status

#: The icon (from django.contrib.admin's static files) beside each status; its colour
#: is the CSS class ``wxpay-status-<status>``.
STATUS_ICONS: dict[str, str] = {
    Status.PENDING: "admin/img/icon-clock.svg",
    Status.UPLOADING: "admin/img/icon-clock.svg",
    Status.UPLOADED: "admin/img/icon-yes.svg",
    Status.FAILED: "admin/img/icon-no.svg",
}


def file_url(image: FeedbackImage, *, site_name: str = "admin") -> str | None:
    """The admin's URL of ``image``'s stored file, or ``None`` when it has none.

    The admin serves the file itself (:meth:`FeedbackImageViews.file_view
    <django_wxpay_media.admin.views.FeedbackImageViews.file_view>`: staff who may view
    the record, from the configured storage), so a preview works with any storage,
    private or not, and needs no ``MEDIA_URL`` route. ``site_name`` is the admin
    site's name (``AdminSite.name``).
    """
    if not image.file:
        return None
    meta = FeedbackImage._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_file", args=(quote(image.pk),), current_app=site_name)


class FeedbackImageColumns(admin.ModelAdmin):
    """The computed columns and read-only fields of the feedback image admin."""

    def preview_url(self, obj: FeedbackImage) -> str | None:
        """:func:`file_url` on this admin site."""
        return file_url(obj, site_name=self.admin_site.name)

    @admin.display(description=_("image"))
    def thumbnail(self, obj: FeedbackImage) -> str:
        url = self.preview_url(obj)
        if url is None:
            return self.get_empty_value_display()
        return format_html(
            '<img src="{}" alt="{}" loading="lazy" width="64" height="48" class="wxpay-thumbnail">',
            url,
            obj.filename,
        )

    @admin.display(description=_("preview"))
    def preview(self, obj: FeedbackImage) -> str:
        url = self.preview_url(obj)
        if url is None:
            return self.get_empty_value_display()
        return format_html(
            '<a href="{}" target="_blank" rel="noopener"><img src="{}" alt="{}" class="wxpay-preview"></a>',
            url,
            url,
            obj.filename,
        )

    @admin.display(description=_("size"), ordering="size")
    def human_size(self, obj: FeedbackImage) -> str:
        if obj.size is None:
            return self.get_empty_value_display()
        return format_html('<span class="wxpay-nowrap">{}</span>', filesizeformat(obj.size))

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj: FeedbackImage) -> str:
        icon = STATUS_ICONS.get(obj.status, "admin/img/icon-unknown.svg")
        title = ""
        if obj.status == Status.FAILED:  # the reason, in the staff member's language, on hover
            title = texts.error_message(RecordedError.from_image(obj))
        return format_html(
            '<span class="wxpay-status wxpay-status-{}" title="{}"><img src="{}" alt=""> {}</span>',
            obj.status,
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
