"""The Content-Security-Policy header on every response (Django 5.2 has no built-in CSP; 6.0 will).

Pages load scripts, stylesheets and images only from this host, and no page may be framed: an injected
`<script>` or inline handler does not run. Templates keep to that (tests/hardening/test_security_settings.py
scans them for inline scripts, <style> elements and handlers), so the policy needs no nonces; only
`style=""` attributes are allowed (data-driven widths and colours), through `style-src-attr`.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


class ContentSecurityPolicyMiddleware:
    """Adds `settings.CONTENT_SECURITY_POLICY` unless a view set its own policy."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy = "; ".join(f"{directive} {' '.join(sources)}".strip()
                                for directive, sources in settings.CONTENT_SECURITY_POLICY.items())

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.policy:
            response.headers.setdefault("Content-Security-Policy", self.policy)
        return response
