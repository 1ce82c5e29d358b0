"""Computing KPIs and changing them: every write of the metrics engine."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import date

from django.db import connection, transaction
from django.utils import timezone

from metrics.calculators import Calculator, CalculatorError, calculator_for
from metrics.calculators.base import AccountValue, Aggregate
from metrics.models import KPI, ComputationRun, KPITarget, KPIVersion, MetricValue, Scope
from metrics.segments import DIMENSIONS, SEGMENTS_SQL, account_segments

logger = logging.getLogger(__name__)

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

# The default aggregation (Σ numerators / Σ denominators x scale) for the portfolio and every segment at
# once, from the stored account rows joined to the accounts' segments.
_INSERT_RATIO_AGGREGATES = f"""
    INSERT INTO metrics_metricvalue ({{columns}})
    SELECT %(kpi_id)s, %(kpi_version)s, CASE WHEN d.dimension = '' THEN 'portfolio' ELSE 'segment' END, NULL,
           d.dimension, d.segment, %(as_of)s,
           CASE WHEN coalesce(sum(v.denominator), 0) <> 0
                THEN %(scale)s::float8 * coalesce(sum(v.numerator) FILTER (WHERE v.denominator IS NOT NULL), 0)
                     / sum(v.denominator) END,
           coalesce(sum(v.numerator) FILTER (WHERE v.denominator IS NOT NULL), 0),
           coalesce(sum(v.denominator), 0), sum(v.sample_size), NULL, %(run_id)s
    FROM metrics_metricvalue v
    JOIN ({SEGMENTS_SQL}) s ON s.account_id = v.account_id
    CROSS JOIN LATERAL (VALUES ('', ''), ('plan', s.plan), ('region', s.region), ('industry', s.industry),
                               ('lifecycle_stage', s.lifecycle_stage), ('size_band', s.size_band),
                               ('owner', s.owner)) AS d (dimension, segment)
    WHERE v.kpi_id = %(kpi_id)s AND v.as_of = %(as_of)s AND v.scope = 'account'
    GROUP BY d.dimension, d.segment
"""


def _copy_values(rows: Sequence[tuple]) -> None:
    if not rows:
        return
    with connection.cursor() as cursor, cursor.cursor.copy(
        f"COPY metrics_metricvalue ({', '.join(_COLUMNS)}) FROM STDIN"
    ) as copy:
        for row in rows:
            copy.write_row(row)


def _stored_account_values(kpi: KPI, as_of: date) -> list[AccountValue]:
    rows = MetricValue.objects.filter(kpi=kpi, scope=Scope.ACCOUNT, as_of=as_of).values_list(
        "account_id", "value", "numerator", "denominator", "sample_size", "details")
    return [AccountValue(account_id=a, value=v, numerator=n, denominator=d, sample_size=s, details=x)
            for a, v, n, d, s, x in rows]


def _groups(values: Sequence[AccountValue], as_of: date) -> dict[tuple[str, str], list[AccountValue]]:
    """The portfolio ("", "") and every segment (dimension, name) with their accounts' values."""
    segments = account_segments(as_of=as_of)
    groups: dict[tuple[str, str], list[AccountValue]] = defaultdict(list)
    groups[("", "")] = []  # the portfolio always gets a row, null when nothing is known
    for row in values:
        groups[("", "")].append(row)
        for dimension in DIMENSIONS:
            groups[(dimension, segments[row.account_id][dimension])].append(row)
    return groups


def _aggregate_in_python(calculator, params: dict, kpi: KPI, as_of: date, run_id: int | None) -> int:
    """For calculators whose aggregate is not a ratio of sums (medians, Kaplan-Meier, LTV)."""
    rows = []
    for (dimension, segment), members in _groups(_stored_account_values(kpi, as_of), as_of).items():
        result: Aggregate = calculator.aggregate(members, as_of=as_of, params=params)
        rows.append((kpi.pk, kpi.version, Scope.SEGMENT if dimension else Scope.PORTFOLIO, None, dimension, segment,
                     as_of, result.value, result.numerator, result.denominator, result.sample_size,
                     _json(result.details), run_id))
    _copy_values(rows)
    return len(rows)


@transaction.atomic
def kpi_compute(*, kpi: KPI, as_of: date, account_ids: Sequence[int] | None = None,
                run: ComputationRun | None = None) -> int:
    """Compute one KPI for `as_of` for every account (or only `account_ids`), then its segment and
    portfolio aggregates from all the accounts' stored values. Replaces the values of that date: running
    it twice stores the same rows once. Returns the number of rows written."""
    calculator = calculator_for(kpi.calculator)
    params = calculator.clean_params(kpi.params)
    if account_ids is not None and MetricValue.objects.filter(
            kpi=kpi, as_of=as_of, scope=Scope.ACCOUNT).exclude(kpi_version=kpi.version).exists():
        account_ids = None  # the other accounts were computed by an older version: recompute them all
    stored = MetricValue.objects.filter(kpi=kpi, as_of=as_of)
    # _raw_delete: one DELETE statement; the ORM's delete() would fetch and delete the rows in batches.
    if account_ids is None:
        stored._raw_delete(stored.db)
    else:
        touched = stored.filter(scope=Scope.ACCOUNT, account_id__in=list(account_ids))
        touched._raw_delete(touched.db)
        aggregates = stored.exclude(scope=Scope.ACCOUNT)
        aggregates._raw_delete(aggregates.db)
    params_sql = {
        **calculator.sql_params(as_of=as_of, params=params, account_ids=account_ids),
        "kpi_id": kpi.pk, "kpi_version": kpi.version, "as_of": as_of, "run_id": run.pk if run else None,
        "scale": calculator.scale,
    }
    columns = ", ".join(_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_ACCOUNT_VALUES.format(columns=columns, account_sql=calculator.account_sql(params)),
                       params_sql)
        written = cursor.rowcount
        if type(calculator).aggregate is Calculator.aggregate:
            cursor.execute(_INSERT_RATIO_AGGREGATES.format(columns=columns),
                           {**params_sql, "scale": calculator.scale or 1.0})
            written += cursor.rowcount
            if not MetricValue.objects.filter(kpi=kpi, as_of=as_of, scope=Scope.PORTFOLIO).exists():
                _copy_values([(kpi.pk, kpi.version, Scope.PORTFOLIO, None, "", "", as_of, None, 0, 0, 0, None,
                               params_sql["run_id"])])
                written += 1
        else:
            written += _aggregate_in_python(calculator, params, kpi, as_of, params_sql["run_id"])
    return written


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


def computation_run_execute(*, run: ComputationRun) -> ComputationRun:
    """Run a pending computation: each KPI in its own transaction, errors recorded per KPI.

    Compare-and-set on the status: a run delivered twice to workers is executed once.
    """
    claimed = ComputationRun.objects.filter(pk=run.pk, status=ComputationRun.Status.PENDING).update(
        status=ComputationRun.Status.RUNNING, started_at=timezone.now())
    if not claimed:
        run.refresh_from_db()
        return run
    kpis = _ordered(list(KPI.objects.filter(slug__in=run.kpi_slugs)))
    errors, rows_written = [], 0
    for done, kpi in enumerate(kpis, start=1):
        try:
            rows_written += kpi_compute(kpi=kpi, as_of=run.as_of, account_ids=run.account_ids, run=run)
        except CalculatorError as error:
            errors.append({"kpi": kpi.slug, "error": str(error)})
        except Exception as error:
            logger.exception("Computing %s for %s failed", kpi.slug, run.as_of)
            errors.append({"kpi": kpi.slug, "error": f"{type(error).__name__}: {error}"})
        ComputationRun.objects.filter(pk=run.pk).update(kpis_done=done, rows_written=rows_written)
    try:
        from metrics.alerts import alert_rules_evaluate

        alert_rules_evaluate(as_of=run.as_of, kpi_ids=[kpi.pk for kpi in kpis], account_ids=run.account_ids)
    except Exception as error:
        logger.exception("Evaluating alert rules for %s failed", run.as_of)
        errors.append({"kpi": None, "error": f"alert rules: {type(error).__name__}: {error}"})
    status = ComputationRun.Status.FAILED if errors else ComputationRun.Status.SUCCEEDED
    ComputationRun.objects.filter(pk=run.pk).update(status=status, finished_at=timezone.now(), errors=errors)
    run.refresh_from_db()
    return run


def kpis_compute(*, as_of: date, trigger: str = ComputationRun.Trigger.MANUAL, kpis: Sequence[KPI] | None = None,
                 account_ids: Sequence[int] | None = None, requested_by=None) -> ComputationRun:
    """Create and execute a computation run in this process."""
    run = computation_run_create(as_of=as_of, trigger=trigger, kpis=kpis, account_ids=account_ids,
                                 requested_by=requested_by)
    return computation_run_execute(run=run)


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
