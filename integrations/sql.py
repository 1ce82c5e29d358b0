"""Set-based writes for bulk ingest: one statement per batch, never a query per row."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection


def bulk_upsert(
    *,
    table: str,
    columns: dict[str, str],
    rows: Sequence[Sequence],
    conflict: Sequence[str],
    update: Sequence[str] = (),
    extra_insert: dict[str, str] | None = None,
) -> tuple[int, int]:
    """Insert `rows` (tuples in `columns` order) through unnest() arrays; on a conflict with `conflict`,
    update the `update` columns only where a value really changed (none: do nothing).

    `columns` maps column name to its PostgreSQL array element type; `extra_insert` adds columns with a
    SQL expression (e.g. now()). Returns (inserted, updated); rows neither inserted nor updated were
    exact duplicates of what was stored.
    """
    if not rows:
        return 0, 0
    names = list(columns)
    arrays = [[row[i] for row in rows] for i in range(len(names))]
    extra = extra_insert or {}
    unnest_args = ", ".join(f"%s::{sql_type}[]" for sql_type in columns.values())
    select = ", ".join([f"x.{name}" for name in names] + list(extra.values()))
    insert_columns = ", ".join(names + list(extra))
    if update:
        assignments = ", ".join(f"{name} = EXCLUDED.{name}" for name in update)
        if "updated_at" in extra:
            assignments += ", updated_at = EXCLUDED.updated_at"
        changed = (f"({', '.join(f'{table}.{name}' for name in update)}) IS DISTINCT FROM "
                   f"({', '.join(f'EXCLUDED.{name}' for name in update)})")
        on_conflict = f"DO UPDATE SET {assignments} WHERE {changed}"
    else:
        on_conflict = "DO NOTHING"
    sql = (
        f"INSERT INTO {table} ({insert_columns}) "
        f"SELECT {select} FROM unnest({unnest_args}) AS x({', '.join(names)}) "
        f"ON CONFLICT ({', '.join(conflict)}) {on_conflict} RETURNING (xmax = 0)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)
        outcomes = [row[0] for row in cursor.fetchall()]
    inserted = sum(outcomes)
    return inserted, len(outcomes) - inserted
