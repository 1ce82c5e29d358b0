"""Scopes: what an API key, or a signed-in person by role, may do through the API."""

from __future__ import annotations

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from core.api.scopes import Scope


def caller_scopes(request: Request) -> set[str]:
    """The scopes of whoever called: an API key's own, or those a person's role grants (`api_scopes` of the
    request's principal, so this layer needs to know neither keys nor roles)."""
    return {str(scope) for scope in getattr(request.user, "api_scopes", ())}


class ScopeRequired(BasePermission):
    """Subclass with `scope = Scope.X`; DRF answers 401 to anonymous callers and 403 otherwise."""

    scope: str = Scope.READ

    def has_permission(self, request: Request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        allowed = self.scope in caller_scopes(request)
        if not allowed:
            self.message = f"This needs the '{self.scope}' scope."
        return allowed


class IngestScope(ScopeRequired):
    scope = Scope.INGEST


class ReadScope(ScopeRequired):
    scope = Scope.READ


class AdminScope(ScopeRequired):
    scope = Scope.ADMIN
