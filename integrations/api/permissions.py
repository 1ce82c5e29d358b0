"""Scopes: what an API key, or a signed-in person by role, may do through the API."""

from __future__ import annotations

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from integrations.models import ApiKey, Scope
from users.models import Role

# A person's role grants the scopes an API key would need for the same work.
ROLE_SCOPES = {
    Role.ADMIN: {Scope.INGEST, Scope.READ, Scope.ADMIN},
    Role.LEADER: {Scope.READ},
    Role.MANAGER: {Scope.READ},
    Role.CSM: {Scope.READ},
    Role.VIEWER: {Scope.READ},
}


def caller_scopes(request: Request) -> set[str]:
    if isinstance(request.auth, ApiKey):
        return set(request.auth.scopes)
    role = getattr(request.user, "role", None)
    return {str(scope) for scope in ROLE_SCOPES.get(role, set())}


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
