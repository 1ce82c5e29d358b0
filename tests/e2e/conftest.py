"""The browser harness: Debian's Chromium, driven by Playwright, against a live server of a tenant of its own.

Why a tenant of its own (`e2e`, served by a live server thread, committed and emptied after each test): see
tests/livetenant.py, the harness this package shares with the connectors' client-library tests.

Why the browser lives only for this package: Playwright's sync API keeps an asyncio loop marked as running
in this thread while it is started, which makes Django refuse ORM calls ("async context"), gives the package
database connections of its own, and would break any later test that runs `asyncio.run`. The loop, the
permission to use the ORM beside it and those connections end with the package.

Writing a test (see test_my_work.py): ask for `page` (a fresh browser context on the tenant's host:
`page.goto("/work/")`) and `sign_in` (`sign_in(Role.LEADER)` returns the signed-in user), create rows with the
usual factories and services (they commit here), act as a person would (labels, roles, the keyboard) and
assert with Playwright's `expect` on what the page shows, then on the database. `screenshot("label")` saves a
picture under `.artifacts/screenshots/` (one is saved at the end of every test anyway);
`@pytest.mark.viewport(**PHONE)` sizes the page as a phone; `live_tenant.url` is the server's address.
`accessible("label")` runs axe-core (bundled by axe-playwright-python) on the page as it is and fails on any serious
or critical violation; tests/e2e/test_every_page.py runs it, with a screenshot, on every page.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client

from tenants.services import tenant_host
from tests.livetenant import LiveTenant, committed_db, live_tenant_served
from users.models import User

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright, Request

CHROMIUM = Path(os.environ.get("BELLWETHER_CHROMIUM", "/usr/bin/chromium"))
# As root, in a sandbox with no network: no setuid sandbox, no GPU, and no background calls home, which this
# machine's closed network refuses many at a time. Playwright adds a fresh temporary --user-data-dir itself.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # Every host name is this machine: `<slug>.<BASE_DOMAIN>` reaches the live server whatever the base
    # domain, and a page that asks a CDN for an asset fails here as it would with no internet.
    "--host-resolver-rules=MAP * 127.0.0.1",
]
ARTIFACTS = Path(settings.BASE_DIR) / ".artifacts" / "screenshots"
E2E_SLUG = "e2e"
# Short enough that a missing element fails in seconds, long enough for a busy two-core machine.
TIMEOUT_MS = 10_000
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "viewport(width, height): the browser page's size (default: a laptop's)")


@dataclass
class BrowserLog:
    """What went wrong in the page, checked after every test: uncaught script errors, and requests to any
    other origin than the tenant's (every asset must come from the app itself: no CDN, no internet)."""

    script_errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)


def _skip_without_browser() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"no browser: {CHROMIUM} is not installed (`make test` installs Debian's chromium as root)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("no browser driver: the `playwright` package is not installed (see requirements.lock)")


@pytest.fixture(scope="package")
def _playwright() -> Iterator[Playwright]:
    _skip_without_browser()
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    manager = sync_playwright().start()
    # Playwright's loop is parked while the test runs, so blocking ORM calls beside it are safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        yield manager
    finally:
        # Django keeps connections per asyncio context, and Playwright's running loop gives this package a
        # context, and connections, of its own: close them, or the test database cannot be dropped.
        connections.close_all()
        manager.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="package")
def browser(_playwright: Playwright) -> Iterator[Browser]:
    """One headless Chromium for the package; each test gets its own context (cookies, storage) in it."""
    from playwright.sync_api import Error

    try:
        chromium = _playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    except Error as error:
        pytest.skip(f"no browser: {CHROMIUM} did not start: {str(error).splitlines()[0]}")
    yield chromium
    chromium.close()


@pytest.fixture(scope="package")
def live_tenant(browser: Browser, django_db_setup, django_db_blocker) -> Iterator[LiveTenant]:
    """The `e2e` tenant, empty, served by pytest-django's live server thread on a free port.

    Asks for the browser first so that a machine without one skips before any tenant is made.
    """
    with live_tenant_served(E2E_SLUG, "Evergreen", django_db_blocker) as served:
        yield served


@pytest.fixture
def db(live_tenant: LiveTenant, django_db_blocker) -> Iterator[None]:
    """Database access in these tests: committed, in the `e2e` tenant, emptied after the test.

    It replaces pytest-django's `db` here, whose rolled-back transaction would hide the test's rows from the
    live server. Keeping the name matters too: pytest-django creates the test database only when some test
    asks for `db` (or a django_db mark), and a run of this package alone must not use the real database.
    """
    with committed_db(live_tenant, django_db_blocker):
        yield


@pytest.fixture(autouse=True)
def _in_tenant(db) -> None:
    """Replaces the suite's fixture that puts every test in `alpha`: every test here runs in `e2e`."""


def _artifact_name(request: pytest.FixtureRequest, label: str = "") -> Path:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / f"{name}{'-' + label if label else ''}.png"


@pytest.fixture
def browser_log() -> BrowserLog:
    return BrowserLog()


@pytest.fixture
def page(browser: Browser, live_tenant: LiveTenant, browser_log: BrowserLog,
         request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh, signed-out page on the tenant's host at a laptop's size, or the test's
    `@pytest.mark.viewport(**PHONE)`.

    Relative URLs (`page.goto("/work/")`) resolve on the tenant. The test fails if the page threw an uncaught
    script error or fetched anything from another origin; a full-page screenshot is saved either way.
    """
    marker = request.node.get_closest_marker("viewport")
    viewport = marker.kwargs if marker else LAPTOP
    context = browser.new_context(base_url=live_tenant.url, viewport=viewport)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.on("pageerror", lambda error: browser_log.script_errors.append(str(error)))

    def _note_origin(sent: Request) -> None:
        if sent.url.startswith(("http:", "https:")) and not sent.url.startswith(live_tenant.url + "/"):
            browser_log.foreign_requests.append(sent.url)

    page.on("request", _note_origin)
    yield page
    try:
        page.screenshot(path=_artifact_name(request), full_page=True)
    finally:
        context.close()
    assert not browser_log.script_errors, f"uncaught script errors in the page: {browser_log.script_errors}"
    assert not browser_log.foreign_requests, f"the page fetched from elsewhere: {browser_log.foreign_requests}"


@pytest.fixture
def screenshot(page: Page, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """Save a full-page screenshot of the page now, named after the test and `label`; returns its path."""

    def take(label: str) -> Path:
        path = _artifact_name(request, label)
        page.screenshot(path=path, full_page=True)
        return path

    return take


@pytest.fixture
def sign_in(page: Page, live_tenant: LiveTenant) -> Callable[..., User]:
    """Sign a user into the page's browser context without the login form (that has tests of its own).

    `sign_in(Role.LEADER)` makes a user of that role (factory fields may follow); `sign_in(user)` signs in one
    the test made.
    """
    from tests.users.factories import UserFactory

    def sign_in_as(role_or_user: str | User, **fields) -> User:
        user = role_or_user if isinstance(role_or_user, User) else UserFactory(role=role_or_user, **fields)
        client = Client(HTTP_HOST=tenant_host(live_tenant.tenant.slug))
        client.force_login(user)
        page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "url": live_tenant.url,
                                   "value": client.cookies[settings.SESSION_COOKIE_NAME].value}])
        return user

    return sign_in_as



# What an accessibility check fails on: axe-core's two worst impacts (minor and moderate are reported, not fatal).
BLOCKING_IMPACTS = ("serious", "critical")


def axe_check(page: Page, label: str = "") -> None:
    """Run axe-core (bundled by axe-playwright-python, injected by the driver, so the page's CSP is untouched) on
    the page as it is now and fail on any serious or critical violation, naming the rule and the elements."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    blocking = [violation for violation in results.response["violations"]
                if violation.get("impact") in BLOCKING_IMPACTS]
    described = [f"{violation['id']} ({violation['impact']}): {violation['help']} at "
                 + ", ".join(" ".join(node["target"]) for node in violation["nodes"][:5])
                 for violation in blocking]
    assert not described, f"accessibility violations on {label or page.url}:\n" + "\n".join(described)


@pytest.fixture
def accessible(page: Page) -> Callable[[str], None]:
    """`accessible("label")`: axe_check on the test's page as it is now."""
    return lambda label="": axe_check(page, label)
