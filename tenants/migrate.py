"""Migrating every tenant's schema, one after another or in parallel processes, with a line per tenant and every
failure named at the end.

django-tenants' own executors (`migrate_schemas --executor multiprocessing`) run tenants in parallel too, but a
failing tenant surfaces as one exception after all the others, without its name, and a worker process that dies
leaves its pool waiting forever. Here each tenant is one job of a process pool: its time is printed as it ends,
its failure is caught and reported with the migrations it still lacks, and the other tenants carry on. Each
migration runs in its own transaction (PostgreSQL's transactional DDL), so a tenant that fails keeps the
migrations before the failing one and none of the failing one: running `platform_migrate` again, once the cause
is fixed, continues where it stopped.
"""

from __future__ import annotations

import multiprocessing
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass

from django.core.management import call_command
from django.db import connection, connections
from django.db.migrations.recorder import MigrationRecorder

from tenants.template import code_migrations


@dataclass(frozen=True)
class TenantMigration:
    """How one tenant's migration went: its time, and why it failed (empty: it did not)."""

    schema_name: str
    seconds: float
    error: str = ""
    skipped: bool = False  # it already had every migration of the code


@dataclass(frozen=True)
class TenantsMigrated:
    """Every tenant's result, and the wall time of migrating them all."""

    results: list[TenantMigration]
    seconds: float

    def summary(self) -> str:
        """Wall time, then the time of each migrated tenant: mean, median, p95, slowest."""
        migrated = sorted(result.seconds for result in self.results if not result.skipped and not result.error)
        skipped = sum(result.skipped for result in self.results)
        failed = sum(bool(result.error) for result in self.results)
        line = (f"{len(self.results)} tenant(s) in {self.seconds:.1f} s: {len(migrated)} migrated, "
                f"{skipped} already up to date")
        if failed:
            line += f", {failed} FAILED"
        if migrated:
            p95 = migrated[max(0, round(len(migrated) * 0.95) - 1)]
            line += (f"; {self.seconds / len(self.results):.3f} s of wall time per tenant; each migrated tenant took "
                     f"mean {statistics.mean(migrated):.3f} s, median {statistics.median(migrated):.3f} s, "
                     f"p95 {p95:.3f} s, slowest {migrated[-1]:.3f} s")
        return line


class TenantMigrationsFailed(Exception):
    """Some tenants could not be migrated; the message names each with its error."""

    def __init__(self, migrated: TenantsMigrated) -> None:
        self.migrated = migrated
        self.failures = [result for result in migrated.results if result.error]
        lines = [f"  {failure.schema_name}: {failure.error}" for failure in self.failures]
        super().__init__(f"{len(self.failures)} tenant(s) not migrated (the others are); fix the cause and run "
                         "platform_migrate again, it continues where each stopped:\n" + "\n".join(lines))


def _applied(schema_name: str) -> frozenset[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT app, name FROM "{schema_name}".django_migrations')
        return frozenset(cursor.fetchall())


def _recorder_table_exists(recorder: MigrationRecorder) -> bool:
    """MigrationRecorder.has_table, asked of PostgreSQL for the one table in the connection's schema."""
    if not recorder._has_table:
        with recorder.connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(format('%%I.%%I', %s::text, %s::text)) IS NOT NULL",
                           [recorder.connection.schema_name, recorder.Migration._meta.db_table])
            recorder._has_table = cursor.fetchone()[0]
    return recorder._has_table


@contextmanager
def _recorder_looks_up_its_table():
    """Django's MigrationRecorder learns whether django_migrations exists by listing every table on the search
    path (`pg_table_is_visible` over the whole of pg_class), four times a tenant: a scan of every tenant's
    catalogue for each, so migrating N tenants cost N squared (0.1-0.3 s a look at 400 tenants). During a
    tenant's migration it looks the one table up instead, in the tenant's own schema, as django-tenants'
    introspection would."""
    listing = MigrationRecorder.has_table
    MigrationRecorder.has_table = _recorder_table_exists
    try:
        yield
    finally:
        MigrationRecorder.has_table = listing


def tenant_migrate(schema_name: str) -> TenantMigration:
    """Apply the migrations `schema_name` lacks; never raises: a failure is returned, with what is still missing."""
    started = time.perf_counter()
    try:
        if code_migrations() <= _applied(schema_name):
            return TenantMigration(schema_name, time.perf_counter() - started, skipped=True)
        with _recorder_looks_up_its_table():
            call_command("migrate_schemas", tenant=True, schema_name=schema_name, interactive=False, verbosity=0,
                         executor="standard")
        connection.set_schema_to_public()
    except Exception as error:  # noqa: BLE001 - every failure is reported, with the tenant's name
        connection.set_schema_to_public()
        try:
            missing = sorted(code_migrations() - _applied(schema_name))
        except Exception:  # noqa: BLE001 - the database itself may be what failed
            missing = []
        still = f" (still to apply: {', '.join(f'{app}.{name}' for app, name in missing)})" if missing else ""
        return TenantMigration(schema_name, time.perf_counter() - started,
                               error=f"{type(error).__name__}: {error}".strip() + still)
    return TenantMigration(schema_name, time.perf_counter() - started)


def _in_child(schema_name: str) -> TenantMigration:
    try:
        return tenant_migrate(schema_name)
    finally:
        connections.close_all()


def tenants_migrate(schema_names: Sequence[str], *, processes: int = 1,
                    report: Callable[[int, int, TenantMigration], None] | None = None) -> list[TenantMigration]:
    """Migrate each schema of `schema_names`, in `processes` parallel processes (forked: they inherit the loaded
    code); `report(done, total, result)` is called as each ends. Returns every result, failures included."""
    results: list[TenantMigration] = []

    def record(result: TenantMigration) -> None:
        results.append(result)
        if report is not None:
            report(len(results), len(schema_names), result)

    if processes <= 1:
        for schema_name in schema_names:
            record(tenant_migrate(schema_name))
        return results
    connections.close_all()  # a forked child must not share the parent's socket
    with ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = {pool.submit(_in_child, schema_name): schema_name for schema_name in schema_names}
        for future in as_completed(futures):
            try:
                record(future.result())
            except BrokenProcessPool as error:
                record(TenantMigration(futures[future], 0.0, error=f"its worker process died ({error})"))
    return results
