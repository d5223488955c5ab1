"""``MerchantScopedAdmin``: an admin that lists and fetches only the merchants its user may see.

The rule (:mod:`django_wxpay_media.scoping`) is applied once, in ``get_queryset``.
Django's admin builds everything else on it: ``get_object`` (the change, history
and delete pages and every custom screen that fetches its record through it), the
changelist's rows and counts, search, date hierarchy, the choices of a
``list_filter`` on the model's own fields, and the rows an action receives.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from ..scoping import for_user

__all__ = ["MerchantScopedAdmin"]


class MerchantScopedAdmin(admin.ModelAdmin):
    """A ``ModelAdmin`` scoped to the user's merchants through :attr:`merchant_field`."""

    #: The lookup path from the model to a merchant number (mchid).
    merchant_field: str = ""

    def scope(self, queryset: QuerySet[Any], request: HttpRequest) -> QuerySet[Any]:
        """``queryset`` limited to the merchants ``request.user`` may see."""
        return for_user(queryset, request.user, self.merchant_field)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return self.scope(super().get_queryset(request), request)
