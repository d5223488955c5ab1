"""Headless Chromium (the system's, through Playwright's sync API) against ``live_server``.

One browser for the whole session; a fresh context (cookies, locale) per test.
The browser is ``/usr/bin/chromium`` from the distribution; a browser is never
downloaded (``playwright install`` is not used). Without it these tests skip.

Every page is served under a strict Content Security Policy (no ``'unsafe-inline'``),
added to the live server's HTML answers on the way to the browser (Django 5.2 has
no CSP middleware; under Django 6 the policy is the same either way), and any
violation the browser reports fails the test: the admin must need no inline style
or script.

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
#: What a careful site sends: everything from itself, nothing inline.
STRICT_CSP = (
    "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'self'; base-uri 'none'; object-src 'none'"
)
# Reports each violation to Python (the binding survives navigations).
_REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
    window.reportCspViolation(
        `${event.effectiveDirective} blocked ${event.blockedURI || "inline"} at ${event.sourceFile}:${event.lineNumber}`
    );
});
"""
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


def with_strict_csp(route: Any) -> None:
    """Pass a page request to the live server and add the strict policy to its answer."""
    if route.request.resource_type != "document":
        route.continue_()
        return
    response = route.fetch(max_redirects=0)  # the browser follows redirects itself
    route.fulfill(response=response, headers={**response.headers, "content-security-policy": STRICT_CSP})


@pytest.fixture
def csp_violations() -> list[str]:
    """What the browser refused under the policy; ``new_page`` fails the test if any."""
    return []


@pytest.fixture
def new_page(browser: Any, live_server: Any, superuser: Any, csp_violations: list[str]) -> Iterator[Callable[..., Any]]:
    """``new_page(locale="en-US", logged_in=True)``: a page in a fresh context.

    Relative URLs go to the live server, served under ``STRICT_CSP``; ``logged_in``
    logs the superuser in through the login form first.
    """
    from playwright.sync_api import expect

    expect.set_options(timeout=STEP_TIMEOUT_MS)
    contexts: list[Any] = []

    def on_console(message: Any) -> None:
        # Chromium also logs each refusal ("Refused to apply inline style ...").
        if "Content Security Policy" in message.text:
            csp_violations.append(message.text)

    def make(locale: str = "en-US", *, logged_in: bool = True) -> Any:
        context = browser.new_context(
            base_url=live_server.url,
            locale=locale,  # also the Accept-Language header, which LocaleMiddleware reads
            viewport={"width": 1600, "height": 900},
        )
        context.set_default_timeout(STEP_TIMEOUT_MS)
        contexts.append(context)
        context.expose_function("reportCspViolation", lambda violation: csp_violations.append(violation))
        context.add_init_script(_REPORT_CSP_VIOLATIONS)
        context.route(f"{live_server.url}/**", with_strict_csp)
        page = context.new_page()
        page.on("console", on_console)
        if logged_in:
            log_in(page)
        return page

    yield make
    for context in contexts:
        context.close()
    assert csp_violations == [], "the browser refused parts of the admin under a strict Content Security Policy"


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
