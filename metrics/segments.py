"""Segments: the account attributes every aggregate KPI is cut by, as of a date.

One SQL definition serves both the set-based aggregation (joined in SQL) and the Python readers. A computation
run materialises it once (`segments_materialised`) so its KPIs do not each recompute every account's size band.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date

from django.db import connection

from metrics.calculators.base import DIMENSIONS

# Attributes are the account's current ones (no attribute history is kept); the size band uses the MRR
# in force on the as-of date, in monthly bands.
SEGMENTS_SQL = """
    SELECT a.id AS account_id,
           coalesce(nullif(a.plan, ''), '(none)') AS plan,
           coalesce(nullif(a.region, ''), '(none)') AS region,
           coalesce(nullif(a.industry, ''), '(none)') AS industry,
           a.lifecycle_stage,
           CASE WHEN m.mrr >= 20000 THEN '20k+' WHEN m.mrr >= 5000 THEN '5k-20k' WHEN m.mrr >= 1000 THEN '1k-5k'
                WHEN m.mrr > 0 THEN 'under 1k' ELSE 'no MRR' END AS size_band,
           coalesce(u.email, '(unowned)') AS owner
    FROM accounts_account a
    LEFT JOIN users_user u ON u.id = a.owner_id
    LEFT JOIN LATERAL (SELECT r.mrr FROM accounts_revenuesnapshot r
                       WHERE r.account_id = a.id AND r.month <= %(as_of)s
                       ORDER BY r.month DESC LIMIT 1) m ON true
"""

# Which segments an account is in, as one number: a value row stores it (MetricValue.segment_key), so that an
# incremental run can tell whether a touched account is still counted in the segments it was counted in before.
SEGMENT_KEY = "hashtextextended(concat_ws(chr(31), {}), 0)".format(", ".join(DIMENSIONS))
# What the engine joins: the segments, and their key.
KEYED_SQL = f"SELECT s.*, {SEGMENT_KEY} AS segment_key FROM ({SEGMENTS_SQL}) s"

# A session temporary table: private to this connection (so to this tenant and this run), gone with it.
_MATERIALISED = "metrics_run_segments"


@dataclass(frozen=True)
class _Materialised:
    connection: int
    as_of: date
    accounts: frozenset[int] | None  # None: every account


_materialised_for: ContextVar[_Materialised | None] = ContextVar("metrics_segments_materialised", default=None)


def account_segments(*, as_of: date) -> dict[int, dict[str, str]]:
    """Each account's segment in every dimension, in one query."""
    with connection.cursor() as cursor:
        cursor.execute(SEGMENTS_SQL, {"as_of": as_of})
        return {row[0]: dict(zip(DIMENSIONS, row[1:], strict=True)) for row in cursor.fetchall()}


def segments_relation(*, as_of: date, account_ids: Sequence[int] | None = None) -> str:
    """What to join for the segments of `as_of` of `account_ids` (None: every account): the run's materialised
    table when it holds them for that date on this connection, else the defining query (which reads
    `%(as_of)s`)."""
    materialised = _materialised_for.get()
    if materialised is None or (materialised.connection, materialised.as_of) != (id(connection.connection), as_of):
        return f"({KEYED_SQL})"
    if materialised.accounts is None or (account_ids is not None and materialised.accounts.issuperset(account_ids)):
        return _MATERIALISED
    return f"({KEYED_SQL})"


@contextmanager
def segments_materialised(*, as_of: date, account_ids: Sequence[int] | None = None) -> Iterator[None]:
    """Compute the segments once for a run of many KPIs, of every account or of the run's `account_ids` (an
    incremental run: a few rows instead of every account's, whose size band each costs a lookup of its MRR);
    `segments_relation` hands them out."""
    with connection.cursor() as cursor:
        # Statement 1: drop a table a broken earlier run on this connection may have left. Statement 2: the
        # segments on `as_of` (no ANALYZE: it would cost more than it saves; the planner sizes the table from its
        # pages, and every join to it is a hash join on account_id).
        cursor.execute(f"DROP TABLE IF EXISTS {_MATERIALISED}")
        cursor.execute(f"CREATE TEMPORARY TABLE {_MATERIALISED} AS SELECT * FROM ({KEYED_SQL}) k "
                       "WHERE %(account_ids)s::bigint[] IS NULL OR k.account_id = ANY(%(account_ids)s::bigint[])",
                       {"as_of": as_of, "account_ids": None if account_ids is None else list(account_ids)})
    token = _materialised_for.set(_Materialised(id(connection.connection), as_of,
                                                None if account_ids is None else frozenset(account_ids)))
    try:
        yield
    finally:
        _materialised_for.reset(token)
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {_MATERIALISED}")
