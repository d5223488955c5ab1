"""Saved replies in the admin: plain CRUD for staff who may reply (imported by the app's ``ready``)."""

from __future__ import annotations

from django.contrib import admin

from .models import SavedReply


@admin.register(SavedReply)
class SavedReplyAdmin(admin.ModelAdmin):
    """Reply templates; ``{order}`` and ``{amount}`` are filled in when a reply starts from one."""

    list_display = ["title"]
    search_fields = ["title", "text"]
    filter_horizontal = ["images"]
