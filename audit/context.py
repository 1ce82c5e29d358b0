"""Who is acting right now: the request's person or API key, or a named automation (a Celery task, a
command). Kept in a context variable so services record the actor without passing it everywhere."""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from audit.models import ActorKind
from core.api.callers import calling_api_key


@dataclass(frozen=True)
class Actor:
    kind: str
    label: str
    user_id: int | None = None
    api_key_id: int | None = None


_request: ContextVar = ContextVar("audit_request", default=None)
_automation: ContextVar[str | None] = ContextVar("audit_automation", default=None)


def current_actor() -> Actor:
    """The request's caller (read when needed: DRF authenticates API keys inside the view), else automation."""
    request = _request.get()
    if request is not None:
        auth = calling_api_key(request)
        if auth is not None:
            return Actor(ActorKind.API_KEY, f"API key {auth.name} ({auth.prefix}…)", api_key_id=auth.pk)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.pk is not None:
            return Actor(ActorKind.USER, f"{user.email} ({user.role})", user_id=user.pk)
    return Actor(ActorKind.AUTOMATION, _automation.get() or "system")


@contextmanager
def acting_request(request):
    token = _request.set(request)
    try:
        yield
    finally:
        _request.reset(token)


@contextmanager
def acting_automation(name: str):
    """Changes inside are recorded as made by this automation (a task, a command), not by a person."""
    request_token, token = _request.set(None), _automation.set(name)
    try:
        yield
    finally:
        _automation.reset(token)
        _request.reset(request_token)
