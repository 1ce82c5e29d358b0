"""`manage.py platform_migrate --processes 2`: a new migration reaches the template and every tenant, in parallel
processes, each tenant's time printed; a tenant where it fails is named with what it still lacks, the others are
migrated, and running it again finishes the job.

The command runs as operators run it, in a process of its own against the test database, with the test settings
plus one throwaway tenant app (tests/tenants/throwaway): its migrations are committed, so the test removes them."""

import subprocess
import sys

import pytest
from django.conf import settings
from django_tenants.utils import get_public_schema_name

from tests.realstack import ROOT, raw_connection, worker_env

SCHEMAS = (settings.TENANT_BASE_SCHEMA, "alpha", "bravo")


def _platform_migrate(*, fail_in: str = "") -> subprocess.CompletedProcess:
    environment = {**worker_env(), "DJANGO_SETTINGS_MODULE": "tests.tenants.throwaway.settings",
                   "THROWAWAY_FAIL_IN": fail_in}
    return subprocess.run([sys.executable, "manage.py", "platform_migrate", "--processes", "2"], cwd=ROOT,
                          env=environment, capture_output=True, text=True, timeout=300, check=False)


def _migrated(schema: str) -> tuple[bool, bool]:
    """(the throwaway table exists, its migration is recorded) in `schema`."""
    with raw_connection() as own:
        table = own.execute("SELECT to_regclass(%s) IS NOT NULL", [f"{schema}.throwaway_marker"]).fetchone()[0]
        recorded = own.execute(f"SELECT EXISTS (SELECT 1 FROM \"{schema}\".django_migrations "
                               "WHERE app = 'throwaway')").fetchone()[0]
    return table, recorded


@pytest.fixture
def throwaway_removed_after():
    yield
    with raw_connection() as own:
        # Every tenant's schema: a tenant another test left committed was migrated too.
        tenants = [row[0] for row in own.execute("SELECT schema_name FROM public.tenants_tenant").fetchall()]
        for schema in {*SCHEMAS, *tenants, "public"}:
            own.execute(f'DROP TABLE IF EXISTS "{schema}".throwaway_marker')
            own.execute(f"DELETE FROM \"{schema}\".django_migrations WHERE app = 'throwaway'")


def test_a_failing_tenant_is_named_the_others_are_migrated_and_a_second_run_finishes(throwaway_removed_after):
    with raw_connection() as own:  # alpha and bravo, and any tenant an earlier test of the run left committed
        tenants = own.execute("SELECT count(*) FROM public.tenants_tenant WHERE schema_name <> %s",
                              [get_public_schema_name()]).fetchone()[0]
    failed = _platform_migrate(fail_in="bravo")

    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "[" in failed.stdout and "alpha: migrated in" in failed.stdout
    assert "bravo: FAILED" in failed.stderr and "refused in bravo, as the test asked" in failed.stderr
    assert "still to apply: throwaway.0001_initial" in failed.stderr
    assert "1 tenant(s) not migrated (the others are)" in failed.stderr
    assert f"{tenants} tenant(s) in" in failed.stderr and f"{tenants - 1} migrated" in failed.stderr
    assert "1 FAILED" in failed.stderr
    assert _migrated(settings.TENANT_BASE_SCHEMA) == (True, True)
    assert _migrated("alpha") == (True, True)
    assert _migrated("bravo") == (False, False)  # the failing migration left nothing behind

    finished = _platform_migrate()

    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "bravo: migrated in" in finished.stdout and "alpha: migrated" not in finished.stdout
    assert f"{tenants} tenant(s) in" in finished.stdout
    assert f"1 migrated, {tenants - 1} already up to date" in finished.stdout
    assert _migrated("bravo") == (True, True)


def test_processes_must_be_positive():
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="--processes must be 1 or more"):
        call_command("platform_migrate", processes=0)


def test_during_a_tenant_migration_the_recorder_looks_up_its_table_in_the_tenants_schema_only():
    """Django lists every visible table to find django_migrations (a scan of every tenant's catalogue); the
    look-up that replaces it must still say no for a schema without one, though public has its own."""
    from django.db import connection
    from django.db.migrations.recorder import MigrationRecorder

    from tenants.migrate import _recorder_looks_up_its_table

    listing = MigrationRecorder.has_table
    with connection.cursor() as cursor:
        cursor.execute("CREATE SCHEMA bare_tenant")
    with _recorder_looks_up_its_table():
        connection.set_schema("alpha")
        assert MigrationRecorder(connection).has_table()
        connection.set_schema("bare_tenant")
        assert not MigrationRecorder(connection).has_table()
    assert MigrationRecorder.has_table is listing
