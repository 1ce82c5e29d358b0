"""Rate limits per API key (or per signed-in user), in the tenant-aware cache."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from core.api.callers import calling_api_key


class CallerRateThrottle(SimpleRateThrottle):
    """One budget per API key or user; the cache key carries the tenant's schema (django-tenants make_key)."""

    scope = "caller"

    def get_cache_key(self, request: Request, view) -> str | None:
        api_key = calling_api_key(request)
        if api_key is not None:
            ident = f"key:{api_key.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
