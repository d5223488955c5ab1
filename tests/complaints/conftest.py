"""Fixtures of the complaint desk's tests: the sandbox wired into settings, with the APIv3 key."""

from __future__ import annotations

import pytest


@pytest.fixture
def desk(wxpay_sandbox, settings):
    """``WXPAY_MEDIA`` pointing at a fresh sandbox (APIv3 key included); returns the sandbox."""
    options = {**wxpay_sandbox.settings(), "MAX_RETRIES": 1, "RETRY_BACKOFF": 0.01}
    options.setdefault("APIV3_KEY", wxpay_sandbox.keys.apiv3_key)
    settings.WXPAY_MEDIA = options
    return wxpay_sandbox


@pytest.fixture
def agent(db):
    """A staff member with every desk permission who sees every merchant."""
    from django.contrib.auth.models import Permission, User

    from tests.grants import sees_every_merchant

    user = User.objects.create_user("agent", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="wxpay_complaints"))
    sees_every_merchant(user)
    return user
