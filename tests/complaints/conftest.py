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
