"""Saved replies in the admin: plain CRUD for staff who may reply (imported by the app's ``ready``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import ManyToManyField
from django.http import HttpRequest

from ..models import FeedbackImage
from ..scoping import for_user
from .models import SavedReply


@admin.register(SavedReply)
class SavedReplyAdmin(admin.ModelAdmin):
    """Reply templates; ``{order}`` and ``{amount}`` are filled in when a reply starts from one."""

    list_display = ["title"]
    search_fields = ["title", "text"]
    filter_horizontal = ["images"]

    # Saved replies are shared by every merchant; their images are not: each user
    # chooses among, and changes, only the images of the merchants they may see.

    def _visible_images(self, request: HttpRequest) -> Any:
        return for_user(FeedbackImage.objects.all(), request.user, "mchid")

    def formfield_for_manytomany(
        self, db_field: ManyToManyField[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> forms.ModelMultipleChoiceField | None:
        if db_field.name == "images":
            kwargs["queryset"] = self._visible_images(request)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # The form replaces the images with the ones chosen; keep those this user could not see.
        hidden = list(form.instance.images.exclude(pk__in=self._visible_images(request).values("pk"))) if change else []
        super().save_related(request, form, formsets, change)
        form.instance.images.add(*hidden)
