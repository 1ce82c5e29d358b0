"""Production settings are safe by construction: `check --deploy` is clean, and secrets are required."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

from config.settings.base import DEVELOPMENT_SECRET_KEY

ROOT = Path(__file__).resolve().parent.parent


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings.production", **env},
    )


def test_production_settings_pass_check_deploy_with_real_secrets():
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS=".bellwether.example",
        DATABASE_URL="postgres://bellwether@127.0.0.1:54329/bellwether", REDIS_URL="redis://127.0.0.1:63799/0",
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    result = _manage("check", DJANGO_ALLOWED_HOSTS=".bellwether.example",
                     DATABASE_URL="postgres://bellwether@127.0.0.1:54329/bellwether")

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


PRODUCTION = {"DJANGO_ALLOWED_HOSTS": ".bellwether.example", "DATABASE_URL": "postgres://bellwether@127.0.0.1:54329/bellwether",
              "REDIS_URL": "redis://127.0.0.1:63799/0"}


def test_production_refuses_the_development_secret_key():
    result = _manage("check", DJANGO_SECRET_KEY=DEVELOPMENT_SECRET_KEY, **PRODUCTION)

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is a development key" in result.stderr


def test_production_refuses_to_start_with_debug_on():
    result = _manage("check", DJANGO_SECRET_KEY=secrets.token_urlsafe(50), DJANGO_DEBUG="true", **PRODUCTION)

    assert result.returncode != 0
    assert "DJANGO_DEBUG is on: production never shows debug pages" in result.stderr


def test_production_keeps_the_read_replica_beside_the_primary():
    """DATABASE_REPLICA_URL configures the replica in production too (it was dropped when production replaced
    the database settings), with the primary's tenant-aware engine."""
    result = _manage(
        "shell", "-c", "from django.conf import settings; d = settings.DATABASES; "
        "print(sorted(d), d['default']['HOST'], d['replica']['HOST'], d['replica']['ENGINE'], d['default']['ENGINE'])",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50), DJANGO_ALLOWED_HOSTS=".bellwether.example",
        DATABASE_URL="postgres://bellwether@primary.internal:5432/bellwether", REDIS_URL="redis://127.0.0.1:63799/0",
        DATABASE_REPLICA_URL="postgres://bellwether@replica.internal:5432/bellwether",
    )

    assert result.returncode == 0, result.stdout + result.stderr
    engine = "django_tenants.postgresql_backend"
    assert result.stdout.strip().splitlines()[-1] == (
        f"['default', 'replica'] primary.internal replica.internal {engine} {engine}")
