"""The ``account`` column and filter, shown only on a site with several merchant accounts."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

from .. import conf


def several_accounts() -> bool:
    """Whether ``WXPAY_MEDIA`` configures more than the default account (a broken setting: no)."""
    try:
        return len(conf.account_names()) > 1
    except ImproperlyConfigured:  # the banner says the settings are wrong
        return False


class AccountColumn(admin.ModelAdmin):
    """Adds the model's ``account`` to ``list_display`` and ``list_filter`` when there are several."""

    def get_list_display(self, request: HttpRequest) -> Any:
        shown = super().get_list_display(request)
        return [*shown, "account"] if several_accounts() else shown

    def get_list_filter(self, request: HttpRequest) -> Any:
        offered = super().get_list_filter(request)
        return [*offered, "account"] if several_accounts() else offered
