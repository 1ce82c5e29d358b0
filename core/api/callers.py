"""Who calls the API: a signed-in person, or an integration's API key acting as a principal of its own.

The key itself (`integrations.models.ApiKey`) belongs to a higher layer; this layer knows it only through the
principal that authentication puts on the request, so throttling, scopes and the audit log can tell a key
from a person without importing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ApiKeyPrincipal:
    """Who a request authenticated by API key acts as: the key itself, not a person."""

    api_key: Any
    is_authenticated: bool = True
    is_anonymous: bool = False
    pk: None = None

    def __str__(self) -> str:
        return f"API key {self.api_key}"

    @property
    def api_scopes(self) -> set[str]:
        return set(self.api_key.scopes)


def calling_api_key(request) -> Any | None:
    """The API key a request authenticated with, or None when a person (or nobody) called."""
    principal = getattr(request, "user", None)
    return principal.api_key if isinstance(principal, ApiKeyPrincipal) else None
