"""Reads from a PostgreSQL streaming replica, when `DATABASE_REPLICA_URL` configures one (docs/deployment.md).

Only requests opt in: `ReplicaReadsMiddleware` lets a safe request (GET, HEAD, OPTIONS) read from the `replica`
alias, with the request's tenant set on that connection too (django-tenants sets the search_path per
connection, and only on `default` by itself). Everything else reads from the primary:
- an unsafe request (POST, PUT, PATCH, DELETE), for its whole duration;
- a browser or client that wrote recently (the `bw_wrote` cookie, set by every unsafe request for
  `REPLICA_PIN_SECONDS`), so a writer reads its own writes on the pages that follow;
- a safe request once it has written anything (the router notes the write), and reads inside a transaction;
- Celery tasks, management commands, the shell: the middleware never ran;
- every request while the replica is down, not streaming, or behind by more than `REPLICA_MAX_LAG_SECONDS`
  (a health check each process caches for `REPLICA_HEALTH_SECONDS`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connections
from django.http import HttpRequest, HttpResponse

REPLICA = "replica"
PIN_COOKIE = "bw_wrote"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Caught up when everything received is replayed; else how old the last replayed transaction is. Not
# streaming (the primary unreachable from the replica) counts as behind: it may be missing anything.
HEALTH_SQL = """
    SELECT pg_is_in_recovery(),
           EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming'),
           CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END
"""


@dataclass
class _Reads:
    """Whether this request's reads may go to the replica (turned off by its first write)."""

    allowed: bool = False


_reads: ContextVar[_Reads] = ContextVar("replica_reads", default=_Reads())  # noqa: B039 (never mutated)
_health: dict[str, tuple[float, bool]] = {}


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def replica_health_forget() -> None:
    """Forget the cached health check (tests, and a process that knows the replica changed)."""
    _health.clear()


def replica_usable() -> bool:
    """Whether the replica answers, is a standby that streams, and is behind by at most the allowed lag.
    The answer is cached per process for REPLICA_HEALTH_SECONDS, so a down replica costs one failed connection
    attempt (bounded by its connect_timeout) per process and period, not one per request."""
    now = time.monotonic()
    cached = _health.get(REPLICA)
    if cached and now - cached[0] < settings.REPLICA_HEALTH_SECONDS:
        return cached[1]
    replica = connections[REPLICA]
    try:
        with replica.cursor() as cursor:
            cursor.execute(HEALTH_SQL)
            in_recovery, streaming, lag = cursor.fetchone()
        usable = bool(in_recovery and streaming and float(lag) <= settings.REPLICA_MAX_LAG_SECONDS)
    except DatabaseError:
        replica.close()
        usable = False
    _health[REPLICA] = (now, usable)
    return usable


class ReplicaRouter:
    """Reads to the replica while the current request allows it; writes, migrations and everything else to the
    primary (`default`)."""

    def db_for_read(self, model, **hints) -> str | None:
        reads = _reads.get()
        if reads.allowed and not connections["default"].in_atomic_block:
            return REPLICA
        return None

    def db_for_write(self, model, **hints) -> str | None:
        _reads.get().allowed = False  # from now on this request reads its own writes
        return None

    def allow_relation(self, obj1, obj2, **hints) -> bool | None:
        return True if {obj1._state.db, obj2._state.db} <= {"default", REPLICA} else None

    def allow_migrate(self, db: str, app_label: str, **hints) -> bool | None:
        return False if db == REPLICA else None


class ReplicaReadsMiddleware:
    """Decides, per request, whether its reads may go to the replica, and sets the tenant there. Placed right
    after django-tenants' TenantMainMiddleware (which sets `request.tenant`)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not replica_configured():
            return self.get_response(request)
        safe = request.method in SAFE_METHODS
        allowed = safe and PIN_COOKIE not in request.COOKIES and replica_usable()
        if allowed:
            tenant = getattr(request, "tenant", None)
            if tenant is None:
                connections[REPLICA].set_schema_to_public()
            else:
                connections[REPLICA].set_tenant(tenant)
        token = _reads.set(_Reads(allowed=allowed))
        try:
            response = self.get_response(request)
        finally:
            _reads.reset(token)
        if not safe:
            response.set_cookie(PIN_COOKIE, "1", max_age=settings.REPLICA_PIN_SECONDS, httponly=True,
                                samesite="Lax", secure=request.is_secure())
        return response
