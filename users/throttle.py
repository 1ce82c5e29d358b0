"""Login throttling against password guessing: after `LOGIN_FAILURE_LIMIT` failed sign-ins for one account from
one address within `LOGIN_FAILURE_WINDOW_SECONDS`, every further attempt is refused, the right password
included, until the window passes.

It lives in an authentication backend, so the sign-in page and the Django admin's login are throttled alike;
the sign-in page adds a clear message and a 429. Counters sit in the tenant-keyed cache: a tenant's
failures never lock out another tenant's user of the same email. The address is REMOTE_ADDR: behind a proxy
that is the proxy's, which makes the limit per account, stricter and never weaker.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

THROTTLED_MESSAGE = "Too many failed sign-ins for this account from your address. Try again in {minutes} minutes."


def _client_address(request: HttpRequest | None) -> str:
    return request.META.get("REMOTE_ADDR", "") if request is not None else ""


def _key(email: str, address: str) -> str:
    # Hashed: the cache holds no email addresses, and any input makes a valid key.
    digest = hashlib.sha256(f"{email.strip().lower()}|{address}".encode()).hexdigest()
    return f"login-failures:{digest}"


def login_blocked(*, email: str, request: HttpRequest | None) -> bool:
    return cache.get(_key(email, _client_address(request)), 0) >= settings.LOGIN_FAILURE_LIMIT


def login_failure_record(*, email: str, request: HttpRequest | None) -> int:
    """Count one failure; the window starts at the first failure and is not extended by later ones."""
    key = _key(email, _client_address(request))
    cache.add(key, 0, timeout=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=settings.LOGIN_FAILURE_WINDOW_SECONDS)
        return 1


def login_failures_clear(*, email: str, request: HttpRequest | None) -> None:
    cache.delete(_key(email, _client_address(request)))


class ThrottledModelBackend(ModelBackend):
    """ModelBackend that refuses a throttled account and address, and counts failures."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        email = username if username is not None else kwargs.get(get_user_model().USERNAME_FIELD)
        if not email:
            return None
        if login_blocked(email=email, request=request):
            raise PermissionDenied("Too many failed sign-ins.")  # stops authenticate() at every backend
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            login_failure_record(email=email, request=request)
        else:
            login_failures_clear(email=email, request=request)
        return user


class LoginThrottleMixin:
    """For a LoginView: a throttled attempt gets 429 and says why, instead of "email and password didn't match"."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        email = request.POST.get("username", "")
        if email and login_blocked(email=email, request=request):
            minutes = max(1, settings.LOGIN_FAILURE_WINDOW_SECONDS // 60)
            form = self.get_form_class()(request, initial={"username": email})  # unbound: checks no password
            context = self.get_context_data(form=form, throttled=THROTTLED_MESSAGE.format(minutes=minutes))
            return self.render_to_response(context, status=429)
        return super().post(request, *args, **kwargs)
