"""Every route of the tenant URLconf as data, so matrices of security tests cover an endpoint the day it is added.

The isolation matrix (and the role matrix after it) iterate `tenant_routes()` instead of a hand-kept list: a
developer who adds a URL gets its tests for free, and a path parameter nobody registered fails loudly.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from django.urls import URLPattern, URLResolver, get_resolver
from django.views.generic import RedirectView

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")
_REGEX_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")


@dataclass(frozen=True)
class Route:
    """One URL pattern with everything a test needs to call it."""

    pattern: str
    name: str | None
    callback: Callable

    @property
    def key(self) -> str:
        """The name a registry uses for the route: its URL name, or its pattern when it has none."""
        return self.name or self.pattern

    @property
    def is_api(self) -> bool:
        return self.pattern.startswith("api/")

    @property
    def is_admin(self) -> bool:
        return self.pattern.startswith("admin/")

    @cached_property
    def kwargs(self) -> tuple[str, ...]:
        return tuple(_CONVERTER.findall(self.pattern) + _REGEX_GROUP.findall(self.pattern))

    @cached_property
    def view_class(self) -> type | None:
        """The class behind a class-based view (DRF's `cls`, Django's `view_class`); None for a function."""
        return getattr(self.callback, "cls", None) or getattr(self.callback, "view_class", None)

    @property
    def methods_known(self) -> bool:
        """A class says which methods it answers; a function view's decorators do not, so GET and POST are tried."""
        return self.view_class is not None

    @cached_property
    def methods(self) -> tuple[str, ...]:
        cls = self.view_class
        if cls is None:
            return ("GET", "POST")
        if issubclass(cls, RedirectView):
            return ("GET",)  # every method of a RedirectView does the same redirect
        return tuple(method for method in ("GET", *WRITE_METHODS)
                     if method.lower() in cls.http_method_names and hasattr(cls, method.lower()))

    def path(self, values: dict[str, str]) -> str:
        """The URL with each parameter replaced by `values[name]`; works for unnamed and regex routes too."""
        filled = _CONVERTER.sub(lambda match: values[match.group(1)], self.pattern)
        filled = _REGEX_GROUP.sub(lambda match: values[match.group(1)], filled)
        return "/" + filled.replace("^", "").replace("$", "")


def _walk(patterns, prefix: str = "", namespace: str | None = None):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), entry.namespace or namespace)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield Route(pattern=prefix + str(entry.pattern), name=name, callback=entry.callback)


def tenant_routes() -> list[Route]:
    """Every route served on a tenant's host: pages, the admin and the API (config.urls includes
    config.api_urls), in URLconf order."""
    return list(_walk(get_resolver("config.urls").url_patterns))
