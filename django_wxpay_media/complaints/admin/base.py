"""What every part of the complaint desk's admin shares: permissions, URLs, amounts.

Complaints (and the records beside them) are written by the service from WeChat
Pay's answers: staff view them, never add, change or delete them; they act through
the desk's own screens, each with its own permission.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from ...admin.lookups import OfferedLookupsOnly
from ...admin.scoped import MerchantScopedAdmin

APP = "wxpay_complaints"


def fen(value: int | None) -> str:
    """An amount in fen as ``¥1.50`` (empty for none)."""
    return "" if value is None else f"¥{value / 100:.2f}"


class ServiceWrittenAdmin(MerchantScopedAdmin, OfferedLookupsOnly):
    """Records the complaint service writes: staff view them, never add, change or delete them.

    Each lists and fetches only the merchants the user may see (``MerchantScopedAdmin``).
    """

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DeskBase(ServiceWrittenAdmin):
    """The desk's permissions (one per action) and URLs reversed for this admin site."""

    def _has(self, request: HttpRequest, codename: str) -> bool:
        return request.user.has_perm(f"{APP}.{codename}")

    def has_reply_permission(self, request: HttpRequest) -> bool:
        return self._has(request, "reply_complaint")

    def has_complete_permission(self, request: HttpRequest) -> bool:
        return self._has(request, "complete_complaint")

    def has_refund_decision_permission(self, request: HttpRequest) -> bool:
        return self._has(request, "decide_refund_complaint")

    def has_view_payer_phone_permission(self, request: HttpRequest) -> bool:
        return self._has(request, "view_payer_phone")

    def has_assign_permission(self, request: HttpRequest) -> bool:
        """Assigning is the one change staff make to a complaint: Django's ``change_complaint``."""
        return self._has(request, "change_complaint")

    def _url(self, name: str, *args: Any) -> str:
        return reverse(f"admin:{APP}_{name}", args=args, current_app=self.admin_site.name)

    def _change_url(self, complaint: Any) -> str:
        return self._url("complaint_change", complaint.pk)
