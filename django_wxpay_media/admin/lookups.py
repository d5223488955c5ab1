"""URL filters limited to what a changelist offers.

Django's admin accepts a lookup on any local field in the changelist's query
string (``?raw__icontains=…``), so staff who may only view a list could probe
fields it never shows, such as an encrypted phone number or WeChat Pay's raw
answer. :class:`OfferedLookupsOnly` allows a lookup only on the fields (and
filters) of ``list_filter`` and ``date_hierarchy``; Django's own checks then apply.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.filters import SimpleListFilter
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest

__all__ = ["OfferedLookupsOnly"]


class OfferedLookupsOnly(admin.ModelAdmin):
    """A ``ModelAdmin`` whose changelist filters only on what ``list_filter`` offers."""

    def offered_lookups(self, request: HttpRequest) -> set[str]:
        """Field paths (and simple filters' parameters) a URL may filter on."""
        filters = self.get_list_filter(request)
        offered: set[str] = {self.date_hierarchy} if self.date_hierarchy else set()
        for item in filters:
            if isinstance(item, type) and issubclass(item, SimpleListFilter):
                offered.add(str(item.parameter_name))
            elif isinstance(item, (list, tuple)):
                offered.add(str(item[0]))
            elif isinstance(item, str):
                offered.add(item)
        return offered

    # Django 5.0 added ``request`` (optional in 5.x, required from 6.0); the changelist passes it.
    def lookup_allowed(self, lookup: str, value: Any, request: HttpRequest) -> bool:
        """Whether the changelist may filter on ``lookup`` from the URL."""
        offered = self.offered_lookups(request)
        if not any(lookup == path or lookup.startswith(path + LOOKUP_SEP) for path in offered):
            return False
        return super().lookup_allowed(lookup, value, request)
