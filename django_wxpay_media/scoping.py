"""Who sees which merchant: the one rule, used by every admin screen and by the alerts.

Superusers, and staff with the permission ``django_wxpay_media.view_all_merchants``,
see every merchant. Any other user sees the merchant numbers (mchids) granted to
them directly or through one of their groups (:class:`~.grants.MerchantGrant`),
and nothing else; an inactive or anonymous user sees nothing.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model, Q, QuerySet

from .grants import MerchantGrant

__all__ = ["VIEW_ALL_PERMISSION", "for_user", "sees_every_merchant", "visible_mchids"]

#: The permission that lifts the rule (given to existing staff by migration 0004, so upgrading changes nothing).
VIEW_ALL_PERMISSION = "django_wxpay_media.view_all_merchants"

M = TypeVar("M", bound=Model)


def sees_every_merchant(user: Any) -> bool:
    """True for an active superuser or an active user with ``view_all_merchants``."""
    if user is None or not getattr(user, "is_active", False):
        return False
    return bool(user.is_superuser or user.has_perm(VIEW_ALL_PERMISSION))


def visible_mchids(user: Any) -> frozenset[str] | None:
    """``None`` when ``user`` sees every merchant; otherwise the mchids granted (maybe none)."""
    if sees_every_merchant(user):
        return None
    if user is None or not getattr(user, "is_active", False) or user.pk is None:
        return frozenset()
    grants = MerchantGrant.objects.filter(Q(user=user) | Q(group__in=user.groups.all()))
    return frozenset(grants.values_list("mchid", flat=True))


def for_user(queryset: QuerySet[M], user: Any, field: str) -> QuerySet[M]:
    """``queryset`` limited to the rows whose ``field`` (a lookup path to a mchid) ``user`` may see."""
    mchids = visible_mchids(user)
    if mchids is None:
        return queryset
    return queryset.filter(**{f"{field}__in": sorted(mchids)})
