"""Benchmark: a thousand tenants, created, then migrated with a new migration, one at a time and in parallel.

    make bench-tenants     (or: .venv/bin/python scripts/bench_tenants.py [--tenants 1000 --trials 5
                            --processes 2 --database bench_tenants --phases create,migrate])

Runs in a database of its own (`--database`, created if missing on the server of DATABASE_URL, by default the
embedded one) and leaves it, with its tenants, for the next run and for `make bench-platform`; `--drop` drops it.

create: tenants `bt-0001`, `bt-0002`, ... are made with the product's `tenant_create` (schema, host name, first
    admin, default catalogue) until there are `--tenants`, each one timed; the times are printed per hundred. At
    the start and at the end, a checkpoint times in interleaved rounds (`--trials`):
      product      tenant_create, as above;
      clone        django-tenants' own way (Tenant.save: the clone_schema SQL function, then a faked migrate);
      sql clone    the clone_schema SQL function alone;
      replay       the template's recipe replayed alone (pg_dump's DDL): the lower bound of any copy.
    The extra schemas of the last three are dropped again. Each creation runs on a connection of its own (a
    command's, a request's), unless `--one-connection`.
migrate: a throwaway tenant app (in a temporary folder) with one migration (a table with an index) is applied:
    first to `--sample` tenants one at a time, alternately the way Django finds its migrations table (listing every
    visible table) and the way tenants.migrate looks it up; then to every tenant by `platform_migrate --processes 1`,
    then `--processes N`. Each run's total and per-tenant time is printed (its log, a line per tenant, is kept in
    the temporary folder); the migration is taken out again in SQL after each.

The machine's load average is printed with each figure: the benchmark is only as quiet as the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
os.environ["DJANGO_DEBUG"] = "false"  # no query log growing by 200 kB of DDL a tenant

PREFIX = "bt-"


def database_use(name: str) -> str:
    """Point DATABASE_URL at database `name` on the same server, creating it if missing; return the URL."""
    from config import embedded

    server = urlsplit(os.environ.get("DATABASE_URL") or embedded.database_url())
    url = urlunsplit(server._replace(path=f"/{name}"))
    import psycopg

    with psycopg.connect(urlunsplit(server._replace(path="/postgres")), autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            admin.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = url
    return url


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def spread(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p95 = ordered[max(0, round(len(ordered) * 0.95) - 1)]
    return (f"mean {statistics.mean(ordered):.3f} s, median {statistics.median(ordered):.3f} s, p95 {p95:.3f} s "
            f"(n={len(ordered)})")


# --- creation ----------------------------------------------------------------------------------------------------

def bench_tenants() -> list[str]:
    from tenants.models import Tenant

    return list(Tenant.objects.filter(slug__startswith=PREFIX).order_by("slug").values_list("slug", flat=True))


def product_create(number: int) -> float:
    from tenants.services import tenant_create

    started = time.perf_counter()
    tenant_create(slug=f"{PREFIX}{number:04d}", name=f"Benchmark tenant {number}",
                  admin_email=f"admin@bt{number}.example", admin_password="bench-password-1")
    return time.perf_counter() - started


def _dropped(schema_name: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{schema_name}" CASCADE')


def clone_create(number: int) -> float:
    """django-tenants' own way: Tenant.save clones the template (clone_schema) and fakes its migrations."""
    from tenants.models import Tenant

    tenant = Tenant(schema_name=f"bench_clone_{number}", slug=f"bench-clone-{number}", name="clone")
    started = time.perf_counter()
    tenant.save(verbosity=0)
    seconds = time.perf_counter() - started
    Tenant.objects.filter(pk=tenant.pk).delete()
    _dropped(tenant.schema_name)
    return seconds


def sql_clone(number: int) -> float:
    from django.conf import settings
    from django.db import connection, transaction
    from django_tenants.clone import CloneSchema

    CloneSchema()._create_clone_schema_function()  # as each clone does; it is not timed here
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL client_min_messages = warning")
        cursor.execute("SELECT clone_schema(%s, %s, 'DATA')", [settings.TENANT_BASE_SCHEMA, f"bench_sql_{number}"])
    seconds = time.perf_counter() - started
    _dropped(f"bench_sql_{number}")
    return seconds


def recipe_replay(number: int) -> float:
    from django.db import transaction

    from tenants.template import recipe_for, schema_create_from_recipe, template_migrations

    recipe = recipe_for(template_migrations())
    started = time.perf_counter()
    with transaction.atomic():
        schema_create_from_recipe(schema_name=f"bench_replay_{number}", recipe=recipe)
    seconds = time.perf_counter() - started
    _dropped(f"bench_replay_{number}")
    return seconds


def fresh(seconds: float, args) -> float:
    """Each creation on a connection of its own, as `manage.py tenant_create` or a request has, unless
    `--one-connection`: a PostgreSQL backend keeps the catalogue of every relation it has touched, and one that
    made hundreds of schemas holds hundreds of MB of it and slows down."""
    from django.db import connections

    if not args.one_connection:
        connections.close_all()
    return seconds


def checkpoint(args, next_number: int) -> int:
    """Interleaved rounds of the four ways; returns the next tenant number (the product's trials are kept)."""
    from tenants.models import Tenant

    ways = {"product": [], "clone": [], "sql clone": [], "replay": []}
    for trial in range(args.trials):
        ways["product"].append(fresh(product_create(next_number), args))
        next_number += 1
        ways["clone"].append(fresh(clone_create(trial), args))
        ways["sql clone"].append(fresh(sql_clone(trial), args))
        ways["replay"].append(fresh(recipe_replay(trial), args))
    tenants = Tenant.objects.count() - 1
    floor = statistics.median(ways["replay"])
    print(f"checkpoint at {tenants} tenants ({load()}):", flush=True)
    for way, seconds in ways.items():
        print(f"  {way:10} {spread(seconds)}   x{statistics.median(seconds) / floor:.2f} the replay", flush=True)
    return next_number


def phase_create(args) -> None:
    from tenants.services import platform_migrate

    platform_migrate()
    existing = bench_tenants()
    number = max((int(slug[len(PREFIX):]) for slug in existing), default=0) + 1
    print(f"{len(existing)} benchmark tenants already; creating up to {args.tenants} ({load()})", flush=True)
    number = checkpoint(args, number)
    block: list[float] = []
    started = time.perf_counter()
    while len(bench_tenants()) < args.tenants:
        block.append(fresh(product_create(number), args))
        number += 1
        if len(block) == 100:
            print(f"tenants {number - 100:4d}-{number - 1:4d}: {spread(block)} ({load()})", flush=True)
            block = []
    if block:
        print(f"tenants {number - len(block):4d}-{number - 1:4d}: {spread(block)} ({load()})", flush=True)
    print(f"created up to {args.tenants} in {time.perf_counter() - started:.0f} s", flush=True)
    checkpoint(args, number)


# --- migration ---------------------------------------------------------------------------------------------------

THROWAWAY_MIGRATION = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = []
    operations = [
        migrations.CreateModel(name="Note", fields=[
            ("id", models.BigAutoField(primary_key=True)),
            ("account_ref", models.BigIntegerField(db_index=True)),
            ("body", models.TextField()),
        ]),
    ]
'''

THROWAWAY_SETTINGS = '''
from config.settings.dev import *  # noqa: F403
from config.settings.dev import INSTALLED_APPS, TENANT_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench_throwaway"]
TENANT_APPS = [*TENANT_APPS, "bench_throwaway"]
'''


def throwaway_app(folder: Path) -> dict[str, str]:
    """The app in `folder`, and the environment of a process that has it installed."""
    (folder / "bench_throwaway" / "migrations").mkdir(parents=True, exist_ok=True)
    (folder / "bench_throwaway" / "__init__.py").write_text("")
    (folder / "bench_throwaway" / "migrations" / "__init__.py").write_text("")
    (folder / "bench_throwaway" / "migrations" / "0001_initial.py").write_text(textwrap.dedent(THROWAWAY_MIGRATION))
    (folder / "bench_throwaway_settings.py").write_text(textwrap.dedent(THROWAWAY_SETTINGS))
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "bench_throwaway_settings",
            "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)])}


def manage(environment: dict[str, str], log: Path, *arguments: str) -> tuple[float, str]:
    """Run manage.py; its output goes to `log`; returns its wall time and its last line."""
    started = time.perf_counter()
    with log.open("w") as output:
        done = subprocess.run([sys.executable, "manage.py", *arguments], cwd=ROOT, env=environment,
                              stdout=output, stderr=subprocess.STDOUT, check=False)
    seconds = time.perf_counter() - started
    lines = log.read_text().strip().splitlines() or [""]
    if done.returncode:
        sys.exit(f"manage.py {' '.join(arguments)} failed; see {log}:\n" + "\n".join(lines[-20:]))
    return seconds, lines[-1]


def throwaway_rollback() -> float:
    """Take the throwaway migration out of every schema again, in SQL (a benchmark's cleanup, not the product's)."""
    from django.conf import settings
    from django.db import connection, transaction

    from tenants.models import Tenant

    started = time.perf_counter()
    schemas = [*Tenant.objects.values_list("schema_name", flat=True), settings.TENANT_BASE_SCHEMA]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("".join(f'DROP TABLE IF EXISTS "{schema}".bench_throwaway_note; DELETE FROM "{schema}".'
                               f"django_migrations WHERE app = 'bench_throwaway';" for schema in schemas))
    return time.perf_counter() - started


SAMPLE = """
import time
from contextlib import nullcontext
from tenants import migrate
ours = migrate._recorder_looks_up_its_table
for index, schema in enumerate({schemas!r}):
    migrate._recorder_looks_up_its_table = ours if index % 2 else nullcontext
    started = time.perf_counter()
    result = migrate.tenant_migrate(schema)
    print('ours' if index % 2 else 'django', round(time.perf_counter() - started, 3), result.error or 'ok')
"""


def phase_migrate(args) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-tenants-"))
    environment = throwaway_app(folder)
    schemas = [slug.replace("-", "_") for slug in bench_tenants()]
    print(f"migration of {len(schemas)} benchmark tenants (and any other tenant of the database); logs in {folder}",
          flush=True)
    throwaway_rollback()
    # One tenant at a time in one process, alternately as Django looks for django_migrations (a listing of every
    # table visible, which grows with the tenants) and as tenants.migrate looks it up.
    sample = schemas[:: max(1, len(schemas) // args.sample)][: args.sample]
    _, _ = manage(environment, folder / "sample.log", "shell", "-c", SAMPLE.format(schemas=sample))
    ways: dict[str, list[float]] = {"django": [], "ours": []}
    for line in (folder / "sample.log").read_text().splitlines():
        words = line.split()
        if len(words) == 3 and words[0] in ways and words[2] == "ok":
            ways[words[0]].append(float(words[1]))
    print(f"  one tenant at a time, {len(sample)} tenants alternately ({load()}): Django's table listing "
          f"{spread(ways['django'])}; looked up {spread(ways['ours'])}", flush=True)
    throwaway_rollback()
    for processes in (1, args.processes):
        seconds, last = manage(environment, folder / f"platform_migrate-{processes}.log", "platform_migrate",
                               "--processes", str(processes))
        print(f"platform_migrate --processes {processes}: {seconds:.0f} s in all ({load()})\n  {last}", flush=True)
        print(f"  rolled back in {throwaway_rollback():.0f} s (SQL)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=5, help="rounds of each way at each checkpoint")
    parser.add_argument("--processes", type=int, default=2, help="parallel processes of the second migration")
    parser.add_argument("--sample", type=int, default=20, help="tenants migrated one at a time, both ways")
    parser.add_argument("--database", default="bench_tenants")
    parser.add_argument("--phases", default="create,migrate")
    parser.add_argument("--drop", action="store_true", help="drop the database at the end")
    parser.add_argument("--one-connection", action="store_true",
                        help="create every tenant on one long-lived connection (it slows down as it grows)")
    args = parser.parse_args()
    url = database_use(args.database)
    import django

    django.setup()
    print(f"database {urlsplit(url).path[1:]} on {urlsplit(url).hostname}:{urlsplit(url).port}; {load()}", flush=True)
    phases = args.phases.split(",")
    if "create" in phases:
        phase_create(args)
    if "migrate" in phases:
        phase_migrate(args)
    if args.drop:
        from django.db import connections

        connections.close_all()
        import psycopg

        with psycopg.connect(urlunsplit(urlsplit(url)._replace(path="/postgres")), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{args.database}" WITH (FORCE)')
        print(f"dropped {args.database}")


if __name__ == "__main__":
    main()
