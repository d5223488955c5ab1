"""Headless Chromium (the system's, through Playwright's sync API) against ``live_server``.

One browser for the whole session; a fresh context (cookies, locale) per test.
The browser is ``/usr/bin/chromium`` from the distribution; a browser is never
downloaded (``playwright install`` is not used). Without it these tests skip.

Screenshots for the documentation are written to ``docs/screenshots/`` only when
``WXPAY_SCREENSHOTS=1``, so that ordinary runs leave the tree clean.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Playwright's sync API runs an event loop in this thread; Django refuses ORM calls
# from a thread with a running loop unless told that this is deliberate.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
#: How long a step may wait for the page (a hang guard, not a timing assertion).
STEP_TIMEOUT_MS = 20_000
USERNAME = "admin"
PASSWORD = "browser-test-password"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """The session's one headless Chromium."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium not installed: apt-get install chromium chromium-driver")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install playwright")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def superuser(django_user_model: Any) -> Any:
    return django_user_model.objects.create_superuser(USERNAME, "admin@example.com", PASSWORD)


def log_in(page: Any) -> None:
    """Through the admin's login form, as staff do."""
    page.goto("/admin/login/?next=/admin/")
    page.fill("input[name=username]", USERNAME)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")


@pytest.fixture
def new_page(browser: Any, live_server: Any, superuser: Any) -> Iterator[Callable[..., Any]]:
    """``new_page(locale="en-US", logged_in=True)``: a page in a fresh context.

    Relative URLs go to the live server; ``logged_in`` logs the superuser in
    through the login form first.
    """
    from playwright.sync_api import expect

    expect.set_options(timeout=STEP_TIMEOUT_MS)
    contexts: list[Any] = []

    def make(locale: str = "en-US", *, logged_in: bool = True) -> Any:
        context = browser.new_context(
            base_url=live_server.url,
            locale=locale,  # also the Accept-Language header, which LocaleMiddleware reads
            viewport={"width": 1600, "height": 900},
        )
        context.set_default_timeout(STEP_TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        if logged_in:
            log_in(page)
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def admin_page(new_page: Callable[..., Any]) -> Any:
    """An English-speaking browser, logged in as a superuser."""
    return new_page()


@pytest.fixture
def screenshot() -> Callable[..., None]:
    """``screenshot(page, "name")`` -> docs/screenshots/name.png, when WXPAY_SCREENSHOTS=1."""

    def take(page: Any, name: str, *, full_page: bool = False) -> None:
        if os.environ.get("WXPAY_SCREENSHOTS") != "1":
            return
        SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS_DIR / f"{name}.png"), full_page=full_page)

    return take
