"""Computing KPIs and changing them: every write of the metrics engine."""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Account
from core.numbers import ascii_digits
from metrics.calculators import Calculator, CalculatorError, calculator_for
from metrics.calculators.base import AGGREGATE_COLUMNS, DIMENSIONS, Aggregate, accounts_filter
from metrics.inputs import SharedInput, inputs_shared
from metrics.models import KPI, ComputationRun, KPITarget, KPIVersion, MetricValue, Scope
from metrics.segments import segments_materialised, segments_relation
from metrics.signals import aggregates_deferred

logger = logging.getLogger(__name__)

# How often a running computation records its progress.
PROGRESS_SECONDS = 1.0
# The accounts from which a run of every account computes on several connections (`_connections_for`).
SIDE_BY_SIDE_FROM_ACCOUNTS = 1000

_COLUMNS = ("kpi_id", "kpi_version", "scope", "account_id", "dimension", "segment", "as_of", "value", "numerator",
            "denominator", "sample_size", "details", "run_id")
_KEY = "kpi_id, scope, as_of, account_id, dimension, segment"  # metric_value_one_per_subject_and_date

# A value already stored for the same subject and date is updated only when a number, its details or the KPI
# version changed: a rerun over unchanged data writes nothing (no new row versions, no index entries, no WAL),
# and the row keeps the run that produced it.
_STORED = "(v.kpi_version, v.value, v.numerator, v.denominator, v.sample_size, v.details)"
_UPSERT = f"""
    ON CONFLICT ({_KEY}) DO UPDATE SET
        kpi_version = EXCLUDED.kpi_version, value = EXCLUDED.value, numerator = EXCLUDED.numerator,
        denominator = EXCLUDED.denominator, sample_size = EXCLUDED.sample_size, details = EXCLUDED.details,
        run_id = EXCLUDED.run_id
    WHERE {_STORED} IS DISTINCT FROM (EXCLUDED.kpi_version, EXCLUDED.value, EXCLUDED.numerator,
                                      EXCLUDED.denominator, EXCLUDED.sample_size, EXCLUDED.details)
"""
# A computed account row `c` differs from the stored one `v` (its segments included: see MetricValue.segment_key).
_DIFFERS = ("(v.kpi_version, v.value, v.numerator, v.denominator, v.sample_size, v.details, v.segment_key) "
            "IS DISTINCT FROM (%(kpi_version)s::int, c.value, c.numerator, c.denominator, c.sample_size, c.details, "
            "c.segment_key)")

# What an aggregate reads of each member (AGGREGATE_COLUMNS' `members`), and a stored account row with its segments
# now (`segment_key`) and when it was aggregated (`stored_key`), on `metrics_metricvalue v` joined to segments `s`.
_MEMBER_VALUES = ("account_id", "value", "numerator", "denominator", "sample_size", "details")
_TEMPLATE_COLUMNS = {
    "segment_columns": ", ".join(f"s.{dimension}" for dimension in DIMENSIONS),
    "member_columns": ", ".join((*DIMENSIONS, *_MEMBER_VALUES)),
    "member_nulls": ", ".join(["NULL"] * (len(DIMENSIONS) + len(_MEMBER_VALUES))),
    "stored_columns": ", ".join((*(f"s.{dimension}" for dimension in DIMENSIONS), "v.segment_key AS stored_key",
                                 "s.segment_key", *(f"v.{column}" for column in _MEMBER_VALUES))),
}

# One KPI and date in one statement, nothing crossing into Python:
# - `computed`: the calculator's query over every account (or the touched ones); a row without its own value
#   gets numerator / denominator x scale, null (never 0) when there is nothing to divide by;
# - `accounts_changed`, `accounts_inserted`, `accounts_updated`, `accounts_removed`: the rows that are new or
#   differ from the stored ones, found in one join over the KPI's stored rows of the date, then inserted (new) or
#   updated by id (changed): cheaper than an upsert's probe per row, by half again on a date's first computation
#   (80,000 rows: 1.3 s as an upsert, 0.8 s as inserts). Safe because one computation of a KPI and date at a time
#   holds its lock (`_VALUES_LOCK`); the rows of accounts (of those computed) that no longer get a value removed.
#   New rows go in account order: the unique key's new entries then fill its leaf pages left to right and the
#   (account, as_of) index's are met in its order (100,000 rows: 0.64 s against 1.10 s in the hash join's order);
# - `keyed`: the computed rows with each account's segments, whose key every account row stores;
# - `members`: what the aggregate query reads (see AGGREGATE_COLUMNS): the computed rows, plus the stored rows
#   of the accounts an incremental run did not touch, with each account's segments (whose keys it refreshes);
#   a full run reads nothing back from the values table. An incremental run that merges (`%(merging)s`, see
#   `_merged`) aggregates only the computed rows: what the touched accounts add now.
_ACCOUNTS = """
    computed AS MATERIALIZED (
        SELECT x.account_id,
               coalesce(x.value::float8,
                        CASE WHEN x.numerator IS NOT NULL AND coalesce(x.denominator::float8, 0) <> 0
                             THEN %(account_scale)s::float8 * x.numerator::float8 / x.denominator::float8 END)
                   AS value,
               x.numerator::float8 AS numerator, x.denominator::float8 AS denominator,
               coalesce(x.sample_size, 0)::int AS sample_size, x.details::jsonb AS details
        FROM ({account_sql}) AS x (account_id, numerator, denominator, sample_size, value, details)
    ),
    keyed AS MATERIALIZED (
        SELECT c.*, {segment_columns}, s.segment_key
        FROM computed c
        JOIN {segments} s ON s.account_id = c.account_id
    ),
    accounts_changed AS (
        SELECT c.*, v.id AS stored_id
        FROM keyed c
        LEFT JOIN metrics_metricvalue v
               ON v.kpi_id = %(kpi_id)s AND v.scope = 'account' AND v.as_of = %(as_of)s AND v.account_id = c.account_id
              AND {touched}
        WHERE v.id IS NULL OR {differs}
    ),
    accounts_inserted AS (
        INSERT INTO metrics_metricvalue ({columns}, segment_key)
        SELECT %(kpi_id)s, %(kpi_version)s, 'account', c.account_id, '', '', %(as_of)s, c.value, c.numerator,
               c.denominator, c.sample_size, c.details, %(run_id)s, c.segment_key
        FROM accounts_changed c
        WHERE c.stored_id IS NULL
        ORDER BY c.account_id
        RETURNING 1
    ),
    accounts_updated AS (
        UPDATE metrics_metricvalue v
        SET kpi_version = %(kpi_version)s, value = c.value, numerator = c.numerator, denominator = c.denominator,
            sample_size = c.sample_size, details = c.details, run_id = %(run_id)s, segment_key = c.segment_key
        FROM accounts_changed c
        WHERE v.id = c.stored_id AND v.kpi_id = %(kpi_id)s AND v.scope = 'account' AND v.as_of = %(as_of)s
          AND {touched}
        RETURNING 1
    ),
    accounts_removed AS (
        DELETE FROM metrics_metricvalue v
        WHERE v.kpi_id = %(kpi_id)s AND v.scope = 'account' AND v.as_of = %(as_of)s AND {touched}
          AND NOT EXISTS (SELECT FROM computed c WHERE c.account_id = v.account_id)
        RETURNING 1
    ),
    untouched AS MATERIALIZED (
        SELECT v.id, {stored_columns}
        FROM metrics_metricvalue v
        JOIN {all_segments} s ON s.account_id = v.account_id
        WHERE %(account_ids)s::bigint[] IS NOT NULL AND NOT %(merging)s
          AND v.kpi_id = %(kpi_id)s AND v.scope = 'account' AND v.as_of = %(as_of)s
          AND NOT (v.account_id = ANY(%(account_ids)s::bigint[]))
    ),
    keys_refreshed AS (
        UPDATE metrics_metricvalue v
        SET segment_key = u.segment_key
        FROM untouched u
        WHERE v.kpi_id = %(kpi_id)s AND v.scope = 'account' AND v.as_of = %(as_of)s
          AND v.id = u.id AND u.stored_key IS DISTINCT FROM u.segment_key
    ),
    members AS (
        SELECT {member_columns} FROM keyed
        UNION ALL
        SELECT {member_columns} FROM untouched
        UNION ALL
        SELECT {member_nulls}
    )
"""

# Every segment and the portfolio from `groups` (columns AGGREGATE_COLUMNS): stored, and the groups that no longer
# have a row (a segment left empty) removed.
_GROUPS_WRITTEN = """
    groups_removed AS (
        DELETE FROM metrics_metricvalue v
        WHERE v.kpi_id = %(kpi_id)s AND v.scope IN ('segment', 'portfolio') AND v.as_of = %(as_of)s
          AND NOT %(merging)s
          AND NOT EXISTS (SELECT FROM groups g WHERE g.dimension = v.dimension AND g.segment = v.segment)
        RETURNING 1
    ),
    groups_written AS (
        INSERT INTO metrics_metricvalue AS v ({columns})
        SELECT %(kpi_id)s, %(kpi_version)s, CASE WHEN g.dimension = '' THEN 'portfolio' ELSE 'segment' END, NULL,
               g.dimension, g.segment, %(as_of)s, g.value::float8, g.numerator::float8, g.denominator::float8,
               coalesce(g.sample_size, 0), g.details::jsonb, %(run_id)s
        FROM groups g
        {upsert}
        RETURNING 1
    )
"""

_COUNT = "(SELECT count(*) FROM {})"
_ACCOUNTS_CHANGED = " + ".join(_COUNT.format(cte) for cte in ("accounts_inserted", "accounts_updated",
                                                               "accounts_removed"))
# Computations of the same KPI and date (a nightly run and an ingest's incremental one) take turns: between
# finding a value missing and inserting it, no other may insert it. Advisory locks are per database, so the key
# names the tenant's schema too.
_VALUES_LOCK = "SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':values:' || %s || ':' || %s))"
_GROUPS_CHANGED = " + ".join(_COUNT.format(cte) for cte in ("groups_written", "groups_removed"))

# The groups a calculator finishes in Python, handed back as JSON: (dimension, segment, value, numerator,
# denominator, sample_size, details) for each.
_FINISHED_GROUPS = """
    groups AS (
        SELECT * FROM jsonb_to_recordset(%(groups)s::jsonb) AS g (dimension text, segment text, value float8,
                                                                  numerator float8, denominator float8,
                                                                  sample_size int, details jsonb)
    )
"""


# Before an incremental run that merges: how many touched accounts' stored rows were aggregated under other segments
# than they are in now, what those rows added to each group (the calculator's own aggregate over them), and whether
# the date's aggregates were stored at all.
_BEFORE = """
    WITH stored AS MATERIALIZED (
        SELECT {stored_columns}
        FROM metrics_metricvalue v
        LEFT JOIN {segments} s ON s.account_id = v.account_id
        WHERE v.kpi_id = %(kpi_id)s AND v.scope = 'account' AND v.as_of = %(as_of)s
          AND v.account_id = ANY(%(account_ids)s::bigint[])
    ),
    members AS (
        SELECT {member_columns} FROM stored
        UNION ALL
        SELECT {member_nulls}
    ),
    {groups}
    SELECT (SELECT count(*) FROM stored WHERE stored_key IS DISTINCT FROM segment_key),
           (SELECT jsonb_agg(g) FROM groups g),
           EXISTS (SELECT FROM metrics_metricvalue v
                   WHERE v.kpi_id = %(kpi_id)s AND v.scope = 'portfolio' AND v.as_of = %(as_of)s)
"""

# The stored groups named in %(keys)s (a JSON list of {dimension, segment}).
_STORED_GROUPS = """
    SELECT jsonb_agg(jsonb_build_object('dimension', v.dimension, 'segment', v.segment, 'value', v.value,
                                        'numerator', v.numerator, 'denominator', v.denominator,
                                        'sample_size', v.sample_size, 'details', v.details))
    FROM jsonb_to_recordset(%(keys)s::jsonb) AS k (dimension text, segment text)
    JOIN metrics_metricvalue v
      ON v.kpi_id = %(kpi_id)s AND v.scope IN ('segment', 'portfolio') AND v.as_of = %(as_of)s
     AND v.dimension = k.dimension AND v.segment = k.segment
"""


@dataclass(frozen=True)
class Computed:
    """What computing one KPI for one date did: values computed, and rows it inserted, updated or removed."""

    values: int
    written: int


def _statement(*parts: str, **sql: str) -> str:
    """WITH the CTE templates `parts`, completed in one pass (the calculators' SQL in `sql` is not re-read as a
    template)."""
    return "WITH " + ",".join(parts).format(columns=", ".join(_COLUMNS), upsert=_UPSERT, differs=_DIFFERS,
                                            **_TEMPLATE_COLUMNS, **sql)


def _groups_finished_in_python(calculator: Calculator, params: dict, params_sql: dict,
                               groups: list[dict] | None) -> list[dict]:
    """For calculators whose aggregate SQL cannot finish (Kaplan-Meier, LTV): SQL summed each group, Python
    completes the few of them (one per segment)."""
    return [_group_row(key, calculator.finish_aggregate(summed, as_of=params_sql["as_of"], params=params))
            for key, summed in _aggregates(groups or []).items()]


def _json(value: str | list | None) -> list[dict]:
    """Django's connection hands jsonb back as text."""
    return json.loads(value) if isinstance(value, str) else value or []


def _aggregates(groups: list[dict]) -> dict[tuple[str, str], Aggregate]:
    """Group rows (AGGREGATE_COLUMNS, as JSON) by (dimension, segment)."""
    return {(group["dimension"], group["segment"]): Aggregate(
        value=group["value"], numerator=group["numerator"], denominator=group["denominator"],
        sample_size=group["sample_size"] or 0, details=group["details"]) for group in groups}


def _group_row(key: tuple[str, str], aggregate: Aggregate) -> dict:
    """A group's row for `_FINISHED_GROUPS`: the inverse of `_aggregates`."""
    return {"dimension": key[0], "segment": key[1], "value": aggregate.value, "numerator": aggregate.numerator,
            "denominator": aggregate.denominator, "sample_size": aggregate.sample_size, "details": aggregate.details}


def _merged(cursor, calculator: Calculator, params: dict, params_sql: dict, sql: dict) -> tuple[Computed | None, int]:
    """An incremental run's aggregates without reading the accounts it did not touch: each stored group, plus
    what the touched accounts add now, minus what they added before (`Calculator.merge_aggregate`). Reading every
    other account's stored row and segments again cost about 190 ms a KPI at 100,000 accounts; this costs what the
    touched accounts do.

    (None, rows written so far: account rows, which the re-aggregating statement then finds unchanged) where
    merging would not give what re-aggregating gives: a touched account now in other segments than its stored
    row was counted in, a touched account that lost its value (its segment may be left empty), a date whose
    aggregates were never stored, or an aggregate that is not a sum.
    """
    cursor.execute(_BEFORE.format(**_TEMPLATE_COLUMNS, **sql), params_sql)
    moved, before, aggregated = cursor.fetchone()
    if moved or not aggregated:
        return None, 0
    cursor.execute(_statement(_ACCOUNTS, "{groups}", **sql) + f"""
        SELECT {_COUNT.format("computed")}, {_ACCOUNTS_CHANGED}, {_COUNT.format("accounts_removed")},
               (SELECT jsonb_agg(g) FROM groups g)""", {**params_sql, "merging": True})
    values, written, removed, now = cursor.fetchone()
    if removed:
        return None, written
    before, now = _aggregates(_json(before)), _aggregates(_json(now))
    # Only the groups whose touched accounts add something else than before change: the others are neither read
    # nor written (a group's details can be large: the time to first value's counts and curve).
    changed = [key for key in before.keys() | now.keys() if now.get(key) != before.get(key)]
    if not changed:
        return Computed(values=values, written=written), written
    cursor.execute(_STORED_GROUPS, {**params_sql, "keys": json.dumps(
        [{"dimension": dimension, "segment": segment} for dimension, segment in changed])})
    stored = _aggregates(_json(cursor.fetchone()[0]))
    if not set(before) & set(changed) <= set(stored):
        return None, written
    empty = Aggregate(value=None, numerator=0.0, denominator=0.0, sample_size=0)
    merged = []
    for key in changed:
        group = calculator.merge_aggregate(stored.get(key, empty), now.get(key, empty), before.get(key, empty),
                                           as_of=params_sql["as_of"], params=params)
        if group is None:
            return None, written
        merged.append(_group_row(key, group))
    cursor.execute(_statement(_FINISHED_GROUPS, _GROUPS_WRITTEN) + f" SELECT {_GROUPS_CHANGED}",
                   {**params_sql, "merging": True, "groups": json.dumps(merged, default=str)})
    return Computed(values=values + len(merged), written=written + cursor.fetchone()[0]), written


def kpi_compute(*, kpi: KPI, as_of: date, account_ids: Sequence[int] | None = None,
                run: ComputationRun | None = None, version_checked: bool = False, aggregates: bool = True) -> Computed:
    """Compute one KPI for `as_of` for every account (or only `account_ids`), then its segment and
    portfolio aggregates from all the accounts' values. Idempotent: running it twice stores the same rows
    once, and the second run writes nothing unless the data changed.

    One statement whatever the number of accounts (two for a calculator that finishes its aggregates in
    Python; up to four for an incremental run that merges the stored aggregates, see `_merged`), in a transaction of
    its own; before it, the version check of an incremental run unless the caller did it (`version_checked`),
    and in a run the first materialisation of an input it shares. `aggregates=False` (an incremental run only)
    writes the touched accounts' rows and leaves the segments and portfolio to `aggregates_refresh`.
    """
    calculator = calculator_for(kpi.calculator)
    params = calculator.clean_params(kpi.params)
    if account_ids is not None and not version_checked and _computed_by_older_versions([kpi], as_of):
        account_ids = None  # the other accounts were computed by an older version: recompute them all
    params_sql = {
        **calculator.sql_params(as_of=as_of, params=params, account_ids=account_ids),
        "kpi_id": kpi.pk, "kpi_version": kpi.version, "as_of": as_of, "run_id": run.pk if run else None,
        "account_scale": calculator.scale, "scale": calculator.scale or 1.0,
    }
    account_sql, params_sql = calculator.account_query(params, params_sql)
    sql = {"account_sql": account_sql, "touched": accounts_filter("v.account_id"),
           "segments": segments_relation(as_of=as_of, account_ids=account_ids),
           "all_segments": segments_relation(as_of=as_of),
           "groups": f"groups ({', '.join(AGGREGATE_COLUMNS)}) AS MATERIALIZED ({calculator.aggregate_sql(params)})"}
    params_sql["merging"] = False
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_VALUES_LOCK, [kpi.pk, as_of.isoformat()])
        written_before = 0
        if account_ids is not None and not aggregates:
            cursor.execute(_statement(_ACCOUNTS, **sql) + f"""
                SELECT {_COUNT.format("computed")}, {_ACCOUNTS_CHANGED}""", {**params_sql, "merging": True})
            values, written = cursor.fetchone()
            return Computed(values=values, written=written)
        if account_ids is not None and calculator.merges_aggregates:
            merged, written_before = _merged(cursor, calculator, params, params_sql, sql)
            if merged is not None:
                return merged
        if not calculator.finishes_in_python:
            cursor.execute(_statement(_ACCOUNTS, "{groups}", _GROUPS_WRITTEN, **sql) + f"""
                SELECT {_COUNT.format("computed")} + {_COUNT.format("groups")},
                       {_ACCOUNTS_CHANGED} + {_GROUPS_CHANGED}""", params_sql)
            values, written = cursor.fetchone()
            return Computed(values=values, written=written_before + written)
        cursor.execute(_statement(_ACCOUNTS, "{groups}", **sql) + f"""
            SELECT {_COUNT.format("computed")}, {_ACCOUNTS_CHANGED}, (SELECT jsonb_agg(g) FROM groups g)""",
                       params_sql)
        values, written, summed = cursor.fetchone()
        finished = _groups_finished_in_python(calculator, params, params_sql, _json(summed))
        cursor.execute(_statement(_FINISHED_GROUPS, _GROUPS_WRITTEN) + f" SELECT {_GROUPS_CHANGED}",
                       {**params_sql, "groups": json.dumps(finished, default=str)})
        return Computed(values=values + len(finished), written=written_before + written + cursor.fetchone()[0])


def _computed_by_older_versions(kpis: Sequence[KPI], as_of: date) -> set[int]:
    """The KPIs whose values of `as_of` an older version computed, in one query. Every computation writes the
    portfolio row with the rest in one transaction, and an incremental one only follows a computation by the
    same version, so the portfolio row's version is that of every row of the date."""
    versions = {kpi.pk: kpi.version for kpi in kpis}
    return {kpi_id for kpi_id, version in MetricValue.objects.filter(
        as_of=as_of, scope=Scope.PORTFOLIO, kpi_id__in=list(versions)).values_list("kpi_id", "kpi_version")
        if version != versions[kpi_id]}


def _inputs_of(kpis: Sequence[KPI]) -> list[SharedInput]:
    """Every input the KPIs share (a KPI whose parameters are broken shares nothing: it fails on its own)."""
    inputs = []
    for kpi in kpis:
        try:
            calculator = calculator_for(kpi.calculator)
            inputs += calculator.inputs(calculator.clean_params(kpi.params))
        except CalculatorError:
            continue
    return inputs


def _ordered(kpis: Sequence[KPI]) -> list[KPI]:
    """Composite KPIs (health) read their components' stored values, so they go last."""
    return sorted(kpis, key=lambda kpi: _depends(kpi))


def _merges(kpi: KPI) -> bool:
    try:
        return calculator_for(kpi.calculator).merges_aggregates
    except CalculatorError:
        return True  # fails on its own in the run


def aggregates_refresh(*, as_of: date, kpi_ids: Sequence[int]) -> None:
    """Re-aggregate the segments and portfolio of `kpi_ids` on `as_of` from every account's stored row (what an
    incremental run left for them, aggregates_deferred), then evaluate their rules on the fresh values."""
    from metrics.alerts import alert_rules_evaluate

    kpis = list(KPI.objects.filter(pk__in=kpi_ids, is_active=True))
    for kpi in kpis:
        kpi_compute(kpi=kpi, as_of=as_of, account_ids=[])
    alert_rules_evaluate(as_of=as_of, kpi_ids=[kpi.pk for kpi in kpis], account_ids=[])


def _depends(kpi: KPI) -> bool:
    try:
        return calculator_for(kpi.calculator).depends_on_kpis
    except CalculatorError:
        return False


def computation_run_create(*, as_of: date, trigger: str, kpis: Sequence[KPI] | None = None,
                           account_ids: Sequence[int] | None = None, requested_by=None) -> ComputationRun:
    kpis = list(kpis) if kpis is not None else list(KPI.objects.filter(is_active=True))
    return ComputationRun.objects.create(
        as_of=as_of, trigger=trigger, kpi_slugs=[kpi.slug for kpi in kpis],
        account_ids=list(account_ids) if account_ids is not None else None, requested_by=requested_by,
    )


@contextmanager
def _computation_session(*, as_of: date, kpis: Sequence[KPI] = (),
                         account_ids: Sequence[int] | None = None) -> Iterator[None]:
    """What the KPIs of one run share: the accounts' segments, computed once, and commits that do not each wait
    for the disk. The values are derived data, and the run's final status update commits synchronously, which
    flushes every earlier commit with it: a run marked finished has all its values on disk; a crash before that
    leaves a run still marked running, whose values a rerun replaces."""
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
    try:
        with segments_materialised(as_of=as_of, account_ids=account_ids), inputs_shared(_inputs_of(kpis)):
            yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")


@dataclass
class _Tally:
    """What a run's KPIs computed so far, added to by each connection computing them; the run's progress row
    updated at most once a second (for people watching a long run; the end is recorded by the run)."""

    run: ComputationRun
    errors: list[dict] = field(default_factory=list)
    done: int = 0
    values_computed: int = 0
    rows_written: int = 0
    reported: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kpi: KPI, computed: Computed | None, error: str | None) -> None:
        with self.lock:
            self.done += 1
            if computed is not None:
                self.values_computed += computed.values
                self.rows_written += computed.written
            if error is not None:
                self.errors.append({"kpi": kpi.slug, "error": error})
            if time.monotonic() - self.reported < PROGRESS_SECONDS:
                return
            self.reported = time.monotonic()
            progress = {"kpis_done": self.done, "values_computed": self.values_computed,
                        "rows_written": self.rows_written}
        ComputationRun.objects.filter(pk=self.run.pk).update(**progress)


def _kpis_computed(kpis: Sequence[KPI], *, tally: _Tally, older: set[int], deferred: list[int]) -> None:
    """Compute `kpis` one after the other on this connection, each in its own transaction, errors recorded per
    KPI."""
    run = tally.run
    for kpi in kpis:
        computed, error = None, None
        try:
            computed = kpi_compute(kpi=kpi, as_of=run.as_of, run=run, version_checked=True,
                                   account_ids=None if kpi.pk in older else run.account_ids,
                                   aggregates=kpi.pk not in deferred)
        except CalculatorError as failure:
            error = str(failure)
        except Exception as failure:
            logger.exception("Computing %s for %s failed", kpi.slug, run.as_of)
            error = f"{type(failure).__name__}: {failure}"
        tally.add(kpi, computed, error)


def _shared_by(kpi: KPI) -> set[str]:
    try:
        calculator = calculator_for(kpi.calculator)
        return calculator.shares(calculator.clean_params(kpi.params))
    except CalculatorError:
        return set()  # fails on its own in the run


def _families(kpis: Sequence[KPI]) -> list[list[KPI]]:
    """`kpis` in groups that share nothing with each other (a KPI with another that shares an input with it), in
    their order, the largest group first: each group is computed on one connection, which makes its inputs once."""
    families: list[tuple[set[str], list[KPI]]] = []
    for kpi in kpis:
        shared, members = _shared_by(kpi), [kpi]
        for family in [family for family in families if family[0] & shared]:
            families.remove(family)
            shared, members = shared | family[0], family[1] + members
        families.append((shared, members))
    return sorted((members for _, members in families), key=len, reverse=True)


def _connections_for(run: ComputationRun, families: Sequence[list[KPI]]) -> int:
    """How many connections compute the run: up to METRICS_COMPUTE_CONNECTIONS, one per group of KPIs that share
    nothing (`families`); one inside a caller's transaction (another connection would not see what it wrote),
    for an incremental run and for a tenant of fewer than SIDE_BY_SIDE_FROM_ACCOUNTS accounts. Those take well
    under a second on one connection, and a nightly fan-out over a thousand small tenants keeps one connection
    per worker."""
    if run.account_ids is not None or connection.in_atomic_block or settings.METRICS_COMPUTE_CONNECTIONS < 2:
        return 1
    if not Account.objects.all()[SIDE_BY_SIDE_FROM_ACCOUNTS - 1:SIDE_BY_SIDE_FROM_ACCOUNTS].exists():
        return 1
    return max(1, min(settings.METRICS_COMPUTE_CONNECTIONS, len(families)))


def _computed_side_by_side(families: Sequence[list[KPI]], *, tally: _Tally, connections: int) -> None:
    """Compute the `families` of KPIs (none reading another's values) on this connection and `connections - 1`
    more, each in a thread with a computation session of its own (the segments and inputs are per connection),
    taking the groups of KPIs that share an input one at a time until none is left. PostgreSQL runs the statements
    side by side: a statement that writes never gets parallel workers of its own.

    A thread whose connection cannot be opened takes nothing: its groups are left to the others. When this
    thread's work is interrupted (a task's soft time limit, an error), the others finish the group in hand and take
    no other; the interruption is raised once they have."""
    pending: queue.SimpleQueue[list[KPI]] = queue.SimpleQueue()
    for family in families:
        pending.put(family)
    kpis = [kpi for family in families for kpi in family]

    def take() -> None:
        while True:
            try:
                family = pending.get_nowait()
            except queue.Empty:
                return
            _kpis_computed(family, tally=tally, older=set(), deferred=[])

    tenant = connection.tenant

    def helper() -> None:
        try:
            connection.set_tenant(tenant)
            with _computation_session(as_of=tally.run.as_of, kpis=kpis):
                take()
        except Exception:
            logger.exception("A connection computing %s for %s failed", tenant.schema_name, tally.run.as_of)
        finally:
            connection.close()

    helpers = [threading.Thread(target=helper, name=f"compute-{tenant.schema_name}-{n}", daemon=True)
               for n in range(1, connections)]
    for thread in helpers:
        thread.start()
    try:
        take()
    except BaseException:
        while not pending.empty():
            pending.get_nowait()
        raise
    finally:
        for thread in helpers:
            thread.join()


def computation_run_execute(*, run: ComputationRun, detected_at: datetime | None = None) -> ComputationRun:
    """Run a pending computation: each KPI in its own transaction, errors recorded per KPI; a run of every
    account on several connections at once (`_connections_for`), the KPIs reading others' values after the rest.

    Compare-and-set on the status: a run delivered twice to workers is executed once. `detected_at` is when
    the alert rules count as having seen the values (breaches open and resolve then): now, unless a replay
    of past days (the demo's history) says when those days were current.
    """
    claimed = ComputationRun.objects.filter(pk=run.pk, status=ComputationRun.Status.PENDING).update(
        status=ComputationRun.Status.RUNNING, started_at=timezone.now())
    if not claimed:
        run.refresh_from_db()
        return run
    kpis = _ordered(list(KPI.objects.filter(slug__in=run.kpi_slugs)))
    older = _computed_by_older_versions(kpis, run.as_of) if run.account_ids is not None else set()
    # An incremental run corrects the aggregates that are sums; the others (a median) read every account, which
    # the bulk queue does after it (aggregates_deferred), so the ingest's follow-up stays as quick at 100,000
    # accounts as at 10,000.
    deferred = [kpi.pk for kpi in kpis if run.account_ids is not None and kpi.pk not in older
                and not _merges(kpi)]
    tally = _Tally(run=run)
    dependent = [kpi for kpi in kpis if _depends(kpi)]
    families = _families([kpi for kpi in kpis if kpi not in dependent])
    connections = _connections_for(run, families)
    with _computation_session(as_of=run.as_of, kpis=kpis, account_ids=run.account_ids):
        if connections > 1:
            _computed_side_by_side(families, tally=tally, connections=connections)
        _kpis_computed(dependent if connections > 1 else kpis, tally=tally, older=older, deferred=deferred)
    errors = tally.errors
    try:
        from metrics.alerts import alert_rules_evaluate

        alert_rules_evaluate(as_of=run.as_of, kpi_ids=[kpi.pk for kpi in kpis], account_ids=run.account_ids,
                             now=detected_at)
    except Exception as error:
        logger.exception("Evaluating alert rules for %s failed", run.as_of)
        errors.append({"kpi": None, "error": f"alert rules: {type(error).__name__}: {error}"})
    if deferred:
        aggregates_deferred.send(sender=ComputationRun, as_of=run.as_of, kpi_ids=deferred)
    status = ComputationRun.Status.FAILED if errors else ComputationRun.Status.SUCCEEDED
    ComputationRun.objects.filter(pk=run.pk).update(status=status, finished_at=timezone.now(), errors=errors,
                                                    kpis_done=len(kpis), values_computed=tally.values_computed,
                                                    rows_written=tally.rows_written)
    run.refresh_from_db()
    return run


def kpis_compute(*, as_of: date, trigger: str = ComputationRun.Trigger.MANUAL, kpis: Sequence[KPI] | None = None,
                 account_ids: Sequence[int] | None = None, requested_by=None,
                 detected_at: datetime | None = None) -> ComputationRun:
    """Create and execute a computation run in this process."""
    run = computation_run_create(as_of=as_of, trigger=trigger, kpis=kpis, account_ids=account_ids,
                                 requested_by=requested_by)
    return computation_run_execute(run=run, detected_at=detected_at)


# --- defining KPIs ----------------------------------------------------------------------------------------

@transaction.atomic
def kpi_create(*, slug: str, name: str, calculator: str, params: dict | None = None, changed_by=None,
               **fields) -> KPI:
    """Create a KPI after checking its calculator and parameters, with its first version recorded."""
    cleaned = calculator_for(calculator).clean_params(params)
    kpi = KPI(slug=slug, name=name, calculator=calculator, params=params or {}, **fields)
    kpi.full_clean()
    kpi.save()
    KPIVersion.objects.create(kpi=kpi, version=1, calculator=calculator, params=cleaned, changed_by=changed_by,
                              reason="Created")
    return kpi


@transaction.atomic
def kpis_create(*, kpis: Sequence[KPI], changed_by=None) -> list[KPI]:
    """Create new KPIs together (a tenant's default catalogue), each with its first version and its audit entry,
    in three statements instead of several per KPI: a new tenant's creation waits for it.

    Each is checked as `kpi_create` checks one, except for the uniqueness of its slug and the check constraints,
    which the database enforces (the caller creates only slugs it does not have).
    """
    from audit.services import audit_created

    cleaned = [calculator_for(kpi.calculator).clean_params(kpi.params) for kpi in kpis]
    for kpi in kpis:
        kpi.full_clean(validate_unique=False, validate_constraints=False)
    created = KPI.objects.bulk_create(kpis)
    KPIVersion.objects.bulk_create(
        [KPIVersion(kpi=kpi, version=1, calculator=kpi.calculator, params=params, changed_by=changed_by,
                    reason="Created") for kpi, params in zip(created, cleaned, strict=True)])
    audit_created(created)
    return created


@transaction.atomic
def kpi_update(*, kpi: KPI, changed_by=None, reason: str = "", **fields) -> KPI:
    """Change a KPI. A new calculator or new parameters make a new version; values already stored keep the
    version that produced them."""
    calculator = fields.get("calculator", kpi.calculator)
    params = fields.get("params", kpi.params)
    cleaned = calculator_for(calculator).clean_params(params)
    new_version = calculator != kpi.calculator or cleaned != calculator_for(kpi.calculator).clean_params(kpi.params)
    for name, value in fields.items():
        setattr(kpi, name, value)
    if new_version:
        kpi.version += 1
    kpi.full_clean()
    kpi.save()
    if new_version:
        KPIVersion.objects.create(kpi=kpi, version=kpi.version, calculator=calculator, params=cleaned,
                                  changed_by=changed_by, reason=reason)
    return kpi


@transaction.atomic
def kpi_target_set(*, kpi: KPI, period: str, value: float, set_by=None, reason: str = "", baseline=None,
                   dimension: str = "", segment: str = "") -> KPITarget:
    """Set the target for a period (and segment); the previous one stays in history, superseded. A value the KPI's
    unit cannot take, or a period more than a few years away, is refused (metrics.bounds)."""
    from metrics.bounds import value_check, year_check

    value_check(value, unit=kpi.unit, field="value", what="A target of")
    value_check(baseline, unit=kpi.unit, field="baseline", what="A baseline of")
    if ascii_digits(period[:4]):
        year_check(int(period[:4]), today=timezone.localdate(), field="period", what="The period")
    KPITarget.objects.filter(kpi=kpi, period=period, dimension=dimension, segment=segment,
                             superseded_at__isnull=True).update(superseded_at=timezone.now())
    target = KPITarget(kpi=kpi, period=period, value=value, baseline=baseline, set_by=set_by, reason=reason,
                       dimension=dimension, segment=segment)
    target.full_clean()
    target.save()
    return target
