"""``MerchantGrantAdmin``: who sees which merchant. Only superusers and staff who may change grants see them."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from ..models import MerchantGrant

__all__ = ["MerchantGrantAdmin"]


@admin.register(MerchantGrant)
class MerchantGrantAdmin(admin.ModelAdmin):
    """Grants per user or group; the list shows other merchants' numbers, so viewing needs the change permission."""

    list_display = ("mchid", "user", "group", "created_at")
    list_filter = ("mchid",)
    search_fields = ("mchid", "user__username", "group__name")
    list_select_related = ("user", "group")
    fields = ("mchid", "user", "group")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_change_permission(request, obj)
