"""Security settings that hold whatever the feature code does: sign-in throttling, per-key API rate limits,
response headers (CSP and friends), templates that run under the CSP, and production settings that refuse
to start without their secrets. `check --deploy` itself is tests/test_settings.py.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django_tenants.utils import schema_context

from core.api.scopes import Scope
from core.api.throttling import CallerRateThrottle
from tests.conftest import PASSWORD, TenantClient, login
from tests.integrations.factories import ApiKeyFactory, bearer
from tests.test_settings import _manage
from tests.users.factories import UserFactory
from users.models import Role

LIMIT = 3


@pytest.fixture
def throttle_limit(settings):
    settings.LOGIN_FAILURE_LIMIT = LIMIT


@pytest.fixture
def person():
    """A user whose email no other run used, so failure counters left in the cache by earlier runs don't count."""
    return UserFactory(email=f"guessed-{uuid.uuid4().hex[:12]}@example.com", role=Role.CSM)


def _sign_in(client, email: str, password: str, path: str = "/login/", address: str = "127.0.0.1"):
    return client.post(path, {"username": email, "password": password}, REMOTE_ADDR=address)


def _guess(client, email: str, times: int, **kwargs) -> list[int]:
    return [_sign_in(client, email, "wrong-guess", **kwargs).status_code for _ in range(times)]


# --- sign-in throttling ---------------------------------------------------------------------------------


def test_repeated_wrong_passwords_lock_the_account_even_against_the_right_one(client, person, throttle_limit):
    assert _guess(client, person.email, LIMIT) == [200] * LIMIT

    response = _sign_in(client, person.email, PASSWORD)

    assert response.status_code == 429
    assert b"Too many failed sign-ins" in response.content
    assert client.get("/work/").status_code == 302  # not signed in


def test_the_lock_is_per_account_and_address(client, person, throttle_limit):
    neighbour = UserFactory(email=f"neighbour-{uuid.uuid4().hex[:12]}@example.com")
    _guess(client, person.email, LIMIT)

    assert _sign_in(client, person.email, PASSWORD, address="10.9.8.7").status_code == 302
    client.post("/logout/")
    assert _sign_in(client, neighbour.email, PASSWORD).status_code == 302


def test_the_admin_sign_in_is_throttled_too(client, throttle_limit):
    admin = UserFactory(email=f"admin-{uuid.uuid4().hex[:12]}@example.com", role=Role.ADMIN)
    _guess(client, admin.email, LIMIT, path="/admin/login/")

    response = _sign_in(client, admin.email, PASSWORD, path="/admin/login/")

    assert response.status_code == 200  # the admin's own form, with its error
    assert client.get("/admin/").status_code == 302


def test_a_successful_sign_in_starts_the_count_again(client, person, throttle_limit):
    _guess(client, person.email, LIMIT - 1)
    assert _sign_in(client, person.email, PASSWORD).status_code == 302
    client.post("/logout/")

    assert _guess(client, person.email, LIMIT - 1) == [200] * (LIMIT - 1)
    assert _sign_in(client, person.email, PASSWORD).status_code == 302


def test_a_lock_in_one_tenant_does_not_lock_the_same_email_in_another(client, other_tenant, person, throttle_limit):
    with schema_context(other_tenant.schema_name):
        UserFactory(email=person.email)
    _guess(client, person.email, LIMIT)

    assert _sign_in(TenantClient(other_tenant), person.email, PASSWORD).status_code == 302


# --- API rate limits ------------------------------------------------------------------------------------


def test_reads_are_rate_limited_per_key_and_per_person(client, monkeypatch):
    monkeypatch.setattr(CallerRateThrottle, "rate", "2/min", raising=False)
    first, second = ApiKeyFactory(scopes=[Scope.READ]), ApiKeyFactory(scopes=[Scope.READ])
    for issued in (first, second):
        cache.delete(CallerRateThrottle.cache_format % {"scope": "caller", "ident": f"key:{issued.api_key.pk}"})

    statuses = [client.get("/api/v1/accounts/", **bearer(first)) for _ in range(3)]

    assert [response.status_code for response in statuses] == [200, 200, 429]
    assert 0 < int(statuses[2]["Retry-After"]) <= 60
    assert client.get("/api/v1/accounts/", **bearer(second)).status_code == 200
    person = UserFactory(role=Role.LEADER, email=f"reader-{uuid.uuid4().hex[:12]}@example.com")
    cache.delete(CallerRateThrottle.cache_format % {"scope": "caller", "ident": f"user:{person.pk}"})
    assert login(client, person).get("/api/v1/accounts/").status_code == 200


# --- response headers and templates ---------------------------------------------------------------------


def test_pages_and_the_api_send_the_content_security_policy_and_companions(client):
    for response in (client.get("/login/"), client.get("/api/v1/accounts/")):
        policy = response["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
        directives = dict(directive.strip().split(" ", 1) for directive in policy.split(";"))
        assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
        assert "unsafe-eval" not in policy
        assert [name for name, sources in directives.items() if "unsafe-inline" in sources] == ["style-src-attr"]
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"


def test_the_api_docs_page_has_no_inline_script(client):
    html = client.get("/api/v1/docs/").content.decode()

    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    script = re.search(r'<script src="(/api/v1/docs/\?[^"]+)"', html)
    assert script and client.get(script[1].replace("&amp;", "&"))["Content-Type"].startswith("application/javascript")


# Style attributes are allowed (style-src-attr); scripts, <style> elements, handlers and javascript: URLs are not.
INLINE = re.compile(r"<script(?![^>]*\b(?:src=|type=\"application/json\"))[^>]*>|<style\b|\son[a-z]+=|javascript:",
                    re.IGNORECASE)


def _project_templates() -> list[Path]:
    folders = [Path(folder) for folder in django_settings.TEMPLATES[0]["DIRS"]]
    folders += [path for path in django_settings.BASE_DIR.glob("*/templates") if ".venv" not in path.parts]
    return sorted(path for folder in folders for path in folder.rglob("*.html"))


def test_no_template_needs_an_inline_script_or_style_element_which_the_policy_blocks():
    templates = _project_templates()
    offending = {str(path.relative_to(django_settings.BASE_DIR)): INLINE.findall(path.read_text())
                 for path in templates}

    assert templates
    assert {path: found for path, found in offending.items() if found} == {}


# --- production settings --------------------------------------------------------------------------------

PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": "k" * 64,
    "DJANGO_ALLOWED_HOSTS": ".bellwether.example",
    "DATABASE_URL": "postgres://bellwether@127.0.0.1:54329/bellwether",
    "REDIS_URL": "redis://127.0.0.1:63799/0",
}


@pytest.mark.parametrize("missing", list(PRODUCTION_ENV))
def test_production_refuses_to_start_without_each_secret(missing):
    result = _manage("check", **{name: value for name, value in PRODUCTION_ENV.items() if name != missing})

    assert result.returncode != 0
    assert missing in result.stderr


def test_production_refuses_a_short_secret_key():
    result = _manage("check", **{**PRODUCTION_ENV, "DJANGO_SECRET_KEY": "too-short"})

    assert result.returncode != 0
    assert "at least 50 characters" in result.stderr


def test_production_sends_hsts_and_secure_cookies_over_https_only():
    shown = ["DEBUG", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
             "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY"]
    result = _manage("shell", "-c", f"from django.conf import settings; print([getattr(settings, n) for n in {shown}]);"
                                    "print(settings.CACHES['default']['LOCATION'])", **PRODUCTION_ENV)

    assert result.returncode == 0, result.stderr
    values, cache_location = result.stdout.strip().splitlines()[-2:]
    assert values == str([False, True, 31536000, True, True, True, True])
    assert cache_location == PRODUCTION_ENV["REDIS_URL"]
