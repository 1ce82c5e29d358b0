"""`/healthz`: is the database answering, and is the broker? For operators and load balancers."""

import time

import redis
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, JsonResponse


def _check_database() -> dict:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:  # noqa: BLE001 - any failure means "down", reported, never raised
        return {"ok": False, "error": str(error).splitlines()[0]}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


def _check_broker() -> dict:
    started = time.perf_counter()
    try:
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=1, socket_connect_timeout=1)
        client.ping()
    except Exception as error:  # noqa: BLE001
        return {"ok": False, "error": str(error).splitlines()[0]}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


@login_not_required
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when both dependencies answer, 503 with the failing one named otherwise."""
    checks = {"database": _check_database(), "broker": _check_broker()}
    healthy = all(check["ok"] for check in checks.values())
    return JsonResponse({"status": "ok" if healthy else "unavailable", "checks": checks},
                        status=200 if healthy else 503)
