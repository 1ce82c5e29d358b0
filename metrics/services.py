"""Computing KPIs and changing them: every write of the metrics engine."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from metrics.calculators import Calculator, CalculatorError, calculator_for
from metrics.calculators.base import AGGREGATE_COLUMNS, Aggregate
from metrics.models import KPI, ComputationRun, KPITarget, KPIVersion, MetricValue, Scope
from metrics.segments import segments_materialised, segments_relation

logger = logging.getLogger(__name__)

# How often a running computation records its progress.
PROGRESS_SECONDS = 1.0

_COLUMNS = ("kpi_id", "kpi_version", "scope", "account_id", "dimension", "segment", "as_of", "value", "numerator",
            "denominator", "sample_size", "details", "run_id")

# The calculator's query, wrapped so PostgreSQL writes its rows straight into the values table: nothing
# crosses into Python. A row without its own value gets numerator / denominator x scale, null (never 0)
# when there is nothing to divide by.
_INSERT_ACCOUNT_VALUES = """
    INSERT INTO metrics_metricvalue ({columns})
    SELECT %(kpi_id)s, %(kpi_version)s, 'account', x.account_id, '', '', %(as_of)s,
           coalesce(x.value::float8,
                    CASE WHEN x.numerator IS NOT NULL AND coalesce(x.denominator::float8, 0) <> 0
                         THEN %(scale)s::float8 * x.numerator::float8 / x.denominator::float8 END),
           x.numerator::float8, x.denominator::float8, coalesce(x.sample_size, 0), x.details::jsonb, %(run_id)s
    FROM ({account_sql}) AS x (account_id, numerator, denominator, sample_size, value, details)
"""

# Every segment and the portfolio of one KPI and date, from its stored account rows joined to the accounts'
# segments: `members` for the calculator's aggregate query (see AGGREGATE_COLUMNS), which `_INSERT_AGGREGATES`
# writes straight into the values table.
_MEMBERS = """
    WITH members AS (
        SELECT s.plan, s.region, s.industry, s.lifecycle_stage, s.size_band, s.owner,
               v.account_id, v.value, v.numerator, v.denominator, v.sample_size, v.details
        FROM metrics_metricvalue v
        JOIN {segments} s ON s.account_id = v.account_id
        WHERE v.kpi_id = %(kpi_id)s AND v.as_of = %(as_of)s AND v.scope = 'account'
        UNION ALL
        SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
    )
"""

_INSERT_AGGREGATES = """
    INSERT INTO metrics_metricvalue ({columns})
    {members}
    SELECT %(kpi_id)s, %(kpi_version)s, CASE WHEN g.dimension = '' THEN 'portfolio' ELSE 'segment' END, NULL,
           g.dimension, g.segment, %(as_of)s, g.value::float8, g.numerator::float8, g.denominator::float8,
           coalesce(g.sample_size, 0), g.details::jsonb, %(run_id)s
    FROM ({aggregate_sql}) AS g ({aggregate_columns})
"""


def _copy_values(rows: Sequence[tuple]) -> None:
    """Store rows made in Python, in one COPY."""
    if not rows:
        return
    with connection.cursor() as cursor, cursor.cursor.copy(
        f"COPY metrics_metricvalue ({', '.join(_COLUMNS)}) FROM STDIN"
    ) as copy:
        for row in rows:
            copy.write_row(row)


def _aggregate_finished_in_python(calculator: Calculator, params: dict, params_sql: dict, members: str) -> int:
    """For calculators whose aggregate SQL cannot finish (Kaplan-Meier, LTV): SQL sums each group, Python
    completes the few rows (one per segment), COPY stores them."""
    with connection.cursor() as cursor:
        cursor.execute(f"{members} {calculator.aggregate_sql(params)}", params_sql)
        groups = cursor.fetchall()
    rows = []
    for dimension, segment, value, numerator, denominator, sample_size, details in groups:
        if isinstance(details, str):  # Django's connection hands jsonb back as text
            details = json.loads(details)
        result = calculator.finish_aggregate(
            Aggregate(value=value, numerator=numerator, denominator=denominator, sample_size=sample_size or 0,
                      details=details), as_of=params_sql["as_of"], params=params)
        rows.append((params_sql["kpi_id"], params_sql["kpi_version"], Scope.SEGMENT if dimension else Scope.PORTFOLIO,
                     None, dimension, segment, params_sql["as_of"], result.value, result.numerator,
                     result.denominator, result.sample_size, _json(result.details), params_sql["run_id"]))
    _copy_values(rows)
    return len(rows)


@transaction.atomic
def kpi_compute(*, kpi: KPI, as_of: date, account_ids: Sequence[int] | None = None,
                run: ComputationRun | None = None, version_checked: bool = False) -> int:
    """Compute one KPI for `as_of` for every account (or only `account_ids`), then its segment and
    portfolio aggregates from all the accounts' stored values. Replaces the values of that date: running
    it twice stores the same rows once. Returns the number of rows written.

    At most four queries whatever the number of accounts: the version check (incremental only, unless the
    caller did it: `version_checked`), the delete, the accounts' insert, and the aggregates' insert (or select
    and COPY).
    """
    calculator = calculator_for(kpi.calculator)
    params = calculator.clean_params(kpi.params)
    if account_ids is not None and not version_checked and _computed_by_older_versions([kpi], as_of):
        account_ids = None  # the other accounts were computed by an older version: recompute them all
    stored = MetricValue.objects.filter(kpi=kpi, as_of=as_of)
    # _raw_delete: one DELETE statement; the ORM's delete() would fetch and delete the rows in batches.
    if account_ids is None:
        stored._raw_delete(stored.db)
    else:
        # The touched accounts' rows and every aggregate, in one statement; both sides of the OR are named so
        # each can use an index (a NOT would read all the KPI's rows of the date).
        replaced = stored.filter(Q(scope=Scope.ACCOUNT, account_id__in=list(account_ids))
                                 | Q(scope__in=[Scope.SEGMENT, Scope.PORTFOLIO]))
        replaced._raw_delete(replaced.db)
    params_sql = {
        **calculator.sql_params(as_of=as_of, params=params, account_ids=account_ids),
        "kpi_id": kpi.pk, "kpi_version": kpi.version, "as_of": as_of, "run_id": run.pk if run else None,
        "scale": calculator.scale,
    }
    columns = ", ".join(_COLUMNS)
    members = _MEMBERS.format(segments=segments_relation(as_of=as_of))
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_ACCOUNT_VALUES.format(columns=columns, account_sql=calculator.account_sql(params)),
                       params_sql)
        written = cursor.rowcount
        if calculator.finishes_in_python:
            return written + _aggregate_finished_in_python(calculator, params, params_sql, members)
        cursor.execute(_INSERT_AGGREGATES.format(columns=columns, members=members,
                                                 aggregate_sql=calculator.aggregate_sql(params),
                                                 aggregate_columns=", ".join(AGGREGATE_COLUMNS)),
                       {**params_sql, "scale": calculator.scale or 1.0})
        return written + cursor.rowcount


def _computed_by_older_versions(kpis: Sequence[KPI], as_of: date) -> set[int]:
    """The KPIs whose values of `as_of` an older version computed, in one query. Every computation writes the
    portfolio row with the rest in one transaction, and an incremental one only follows a computation by the
    same version, so the portfolio row's version is that of every row of the date."""
    versions = {kpi.pk: kpi.version for kpi in kpis}
    return {kpi_id for kpi_id, version in MetricValue.objects.filter(
        as_of=as_of, scope=Scope.PORTFOLIO, kpi_id__in=list(versions)).values_list("kpi_id", "kpi_version")
        if version != versions[kpi_id]}


def _json(details: dict | None) -> str | None:
    return None if details is None else json.dumps(details, default=str)


def _ordered(kpis: Sequence[KPI]) -> list[KPI]:
    """Composite KPIs (health) read their components' stored values, so they go last."""
    return sorted(kpis, key=lambda kpi: _depends(kpi))


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
def _computation_session(*, as_of: date) -> Iterator[None]:
    """What the KPIs of one run share: the accounts' segments, computed once, and commits that do not each wait
    for the disk. The values are derived data, and the run's final status update commits synchronously, which
    flushes every earlier commit with it: a run marked finished has all its values on disk; a crash before that
    leaves a run still marked running, whose values a rerun replaces."""
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
    try:
        with segments_materialised(as_of=as_of):
            yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")


def computation_run_execute(*, run: ComputationRun, detected_at: datetime | None = None) -> ComputationRun:
    """Run a pending computation: each KPI in its own transaction, errors recorded per KPI.

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
    errors, rows_written = [], 0
    reported = time.monotonic()
    with _computation_session(as_of=run.as_of):
        for done, kpi in enumerate(kpis, start=1):
            try:
                rows_written += kpi_compute(kpi=kpi, as_of=run.as_of, run=run, version_checked=True,
                                            account_ids=None if kpi.pk in older else run.account_ids)
            except CalculatorError as error:
                errors.append({"kpi": kpi.slug, "error": str(error)})
            except Exception as error:
                logger.exception("Computing %s for %s failed", kpi.slug, run.as_of)
                errors.append({"kpi": kpi.slug, "error": f"{type(error).__name__}: {error}"})
            # Progress is for people watching a long run: once a second is enough, and the end is recorded below.
            if time.monotonic() - reported >= PROGRESS_SECONDS:
                ComputationRun.objects.filter(pk=run.pk).update(kpis_done=done, rows_written=rows_written)
                reported = time.monotonic()
    try:
        from metrics.alerts import alert_rules_evaluate

        alert_rules_evaluate(as_of=run.as_of, kpi_ids=[kpi.pk for kpi in kpis], account_ids=run.account_ids,
                             now=detected_at)
    except Exception as error:
        logger.exception("Evaluating alert rules for %s failed", run.as_of)
        errors.append({"kpi": None, "error": f"alert rules: {type(error).__name__}: {error}"})
    status = ComputationRun.Status.FAILED if errors else ComputationRun.Status.SUCCEEDED
    ComputationRun.objects.filter(pk=run.pk).update(status=status, finished_at=timezone.now(), errors=errors,
                                                    kpis_done=len(kpis), rows_written=rows_written)
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
    """Set the target for a period (and segment); the previous one stays in history, superseded."""
    KPITarget.objects.filter(kpi=kpi, period=period, dimension=dimension, segment=segment,
                             superseded_at__isnull=True).update(superseded_at=timezone.now())
    target = KPITarget(kpi=kpi, period=period, value=value, baseline=baseline, set_by=set_by, reason=reason,
                       dimension=dimension, segment=segment)
    target.full_clean()
    target.save()
    return target
