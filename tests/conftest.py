"""Shared fixtures: the sandbox (from the package's pytest plugin) wired into settings."""

from __future__ import annotations

import pytest
from django.utils import translation
from hypothesis import settings as hypothesis_settings

from tests import helpers

# No time limit per example: a deadline is a timing assertion, and speed is measured in
# benchmarks/, never asserted in a test (on two busy cores an example can take 200 ms).
hypothesis_settings.register_profile("wxpay", deadline=None)
hypothesis_settings.load_profile("wxpay")


@pytest.fixture(autouse=True)
def english():
    """Each test starts in English: a request through LocaleMiddleware (test client,
    live server) leaves its language active in the thread that served it."""
    with translation.override("en"):
        yield


@pytest.fixture
def wxpay_settings(wxpay_sandbox, settings):
    """Point ``WXPAY_MEDIA`` at a fresh sandbox; return the sandbox.

    Retries wait 10 ms instead of seconds so that failure paths stay fast.
    """
    settings.WXPAY_MEDIA = {**wxpay_sandbox.settings(), "MAX_RETRIES": 2, "RETRY_BACKOFF": 0.01}
    return wxpay_sandbox


@pytest.fixture
def media_root(settings, tmp_path):
    """Each test stores files in its own directory, so what is stored can be counted."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = str(root)
    return root


@pytest.fixture
def upload_shops(settings, wxpay_sandbox_factory):
    """Two direct merchants for uploads: the default account and ``shop2`` (mchid ``tests.helpers.SHOP2``), each its own sandbox."""
    first = wxpay_sandbox_factory()
    second = wxpay_sandbox_factory(mchid=helpers.SHOP2)
    settings.WXPAY_MEDIA = {
        **first.settings(),
        "MAX_RETRIES": 1,
        "RETRY_BACKOFF": 0.01,
        "ACCOUNTS": {"shop2": second.settings()},
    }
    return first, second
