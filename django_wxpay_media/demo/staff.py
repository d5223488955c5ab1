"""The demo's staff member ``agent``: answers complaints of the first shop only (a merchant grant).

Shows "staff see only their merchants" (:mod:`django_wxpay_media.scoping`): logged
in as ``agent``, the desk lists, counts, searches and opens only the complaints of
``SUB_MERCHANTS[0]``; ``admin`` (a superuser) sees both shops.
"""

from __future__ import annotations

import secrets
from typing import Any

from .desk import SUB_MERCHANTS

__all__ = ["AGENT", "PERMISSIONS", "agent_password"]

AGENT = "agent"

#: What the agent may do: the desk's work and feedback images; nothing else in the admin.
PERMISSIONS = (
    ("wxpay_complaints", "view_complaint"),
    ("wxpay_complaints", "reply_complaint"),
    ("wxpay_complaints", "complete_complaint"),
    ("wxpay_complaints", "decide_refund_complaint"),
    ("wxpay_complaints", "view_reply"),
    ("wxpay_complaints", "view_notification"),
    ("wxpay_complaints", "view_savedreply"),
    ("django_wxpay_media", "view_feedbackimage"),
    ("django_wxpay_media", "add_feedbackimage"),
    ("django_wxpay_media", "upload_feedbackimage"),
)


def agent_password() -> str:
    """Create (or reset) ``agent``, granted the first shop only; returns its new random password."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    from ..models import MerchantGrant

    password = secrets.token_urlsafe(12)
    user_model: Any = get_user_model()
    manager = user_model._default_manager
    user = manager.filter(**{str(user_model.USERNAME_FIELD): AGENT}).first()
    if user is None:
        user = manager.create_user(AGENT, "agent@example.com", password)
    user.set_password(password)
    user.is_active, user.is_staff, user.is_superuser = True, True, False
    user.save()
    user.user_permissions.set(
        [Permission.objects.get(content_type__app_label=app, codename=codename) for app, codename in PERMISSIONS]
    )
    MerchantGrant.objects.filter(user=user).exclude(mchid=SUB_MERCHANTS[0]).delete()
    MerchantGrant.objects.get_or_create(user=user, mchid=SUB_MERCHANTS[0])
    return password
