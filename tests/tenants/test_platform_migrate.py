"""`manage.py platform_migrate --processes 2`: a new migration reaches the template and every tenant, in parallel
processes, each tenant's time printed; a tenant where it fails is named with what it still lacks, the others are
migrated, and running it again finishes the job.

The command runs as operators run it, in a process of its own against the test database, with the test settings
plus one throwaway tenant app (tests/tenants/throwaway): its migrations are committed, so the test removes them."""

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = (settings.TENANT_BASE_SCHEMA, "alpha", "bravo")


def _database_url() -> str:
    database = connection.settings_dict
    password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
    return f"postgres://{database['USER']}{password}@{database['HOST']}:{database['PORT']}/{database['NAME']}"


def _platform_migrate(*, fail_in: str = "") -> subprocess.CompletedProcess:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.tenants.throwaway.settings",
                   "DATABASE_URL": _database_url(), "THROWAWAY_FAIL_IN": fail_in}
    return subprocess.run([sys.executable, "manage.py", "platform_migrate", "--processes", "2"], cwd=ROOT,
                          env=environment, capture_output=True, text=True, timeout=300, check=False)


def _own_connection() -> psycopg.Connection:
    database = connection.settings_dict
    return psycopg.connect(host=database["HOST"], port=database["PORT"], user=database["USER"],
                           password=database.get("PASSWORD") or None, dbname=database["NAME"], autocommit=True)


def _migrated(schema: str) -> tuple[bool, bool]:
    """(the throwaway table exists, its migration is recorded) in `schema`."""
    with _own_connection() as own:
        table = own.execute("SELECT to_regclass(%s) IS NOT NULL", [f"{schema}.throwaway_marker"]).fetchone()[0]
        recorded = own.execute(f"SELECT EXISTS (SELECT 1 FROM \"{schema}\".django_migrations "
                               "WHERE app = 'throwaway')").fetchone()[0]
    return table, recorded


@pytest.fixture
def throwaway_removed_after():
    yield
    with _own_connection() as own:
        for schema in (*SCHEMAS, "public"):
            own.execute(f'DROP TABLE IF EXISTS "{schema}".throwaway_marker')
            own.execute(f"DELETE FROM \"{schema}\".django_migrations WHERE app = 'throwaway'")


def test_a_failing_tenant_is_named_the_others_are_migrated_and_a_second_run_finishes(throwaway_removed_after):
    failed = _platform_migrate(fail_in="bravo")

    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "[" in failed.stdout and "alpha: migrated in" in failed.stdout
    assert "bravo: FAILED" in failed.stderr and "refused in bravo, as the test asked" in failed.stderr
    assert "still to apply: throwaway.0001_initial" in failed.stderr
    assert "1 tenant(s) not migrated (the others are)" in failed.stderr
    assert "2 tenant(s) in" in failed.stderr and "1 migrated" in failed.stderr and "1 FAILED" in failed.stderr
    assert _migrated(settings.TENANT_BASE_SCHEMA) == (True, True)
    assert _migrated("alpha") == (True, True)
    assert _migrated("bravo") == (False, False)  # the failing migration left nothing behind

    finished = _platform_migrate()

    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "bravo: migrated in" in finished.stdout and "alpha: migrated" not in finished.stdout
    assert "2 tenant(s) in" in finished.stdout and "1 migrated, 1 already up to date" in finished.stdout
    assert _migrated("bravo") == (True, True)


def test_processes_must_be_positive():
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="--processes must be 1 or more"):
        call_command("platform_migrate", processes=0)
