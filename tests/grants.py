"""Which merchants a test's staff member sees (see django_wxpay_media.scoping)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission

from django_wxpay_media.models import MerchantGrant


def sees_every_merchant(user: Any) -> Any:
    """Give ``user`` ``view_all_merchants`` (what upgrading gives existing staff); returns the user."""
    user.user_permissions.add(Permission.objects.get(codename="view_all_merchants"))
    return user


def grant(mchid: str, *, user: Any = None, group: Any = None) -> MerchantGrant:
    """Grant ``user`` or ``group`` the merchant ``mchid``."""
    return MerchantGrant.objects.create(mchid=mchid, user=user, group=group)
