"""Reads of predictions for people: each model version's back-test in plain words, the renewal forecast (and how
the same forecast did on past quarters), and how renewals went by quartile of a leading KPI."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db import connection
from django.db.models import QuerySet

from core.numbers import ascii_digits
from metrics.models import KPI, PredictionModel, PredictionTarget
from metrics.prediction.features import BY_NAME, next_renewal_sql
from metrics.prediction.spec import ALGORITHM_LABELS

BASELINE_LABELS = {"base_rate": "The base rate (everyone gets the same probability)",
                   "health_score": "The health score, as a ranking", "usage_trend": "Last period's usage trend"}
# A 90% interval: the normal approximation to the sum of independent renewals.
INTERVAL_Z = 1.645


def model_versions(*, spec_key: str | None = None, target: str | None = None) -> QuerySet[PredictionModel]:
    """Model versions, newest first, without their fitted bytes; those answering one question (a KPI's spec key)
    when given, whatever trained them (the schedule, a person, a computation that needed one)."""
    versions = PredictionModel.objects.defer("artifact").order_by("-created_at", "-id")
    if spec_key is not None:
        versions = versions.filter(spec_key=spec_key)
    if target:
        versions = versions.filter(target=target)
    return versions


def latest_versions(*, spec_keys: list[str], per_key: int) -> dict[str, list[PredictionModel]]:
    """The `per_key` newest versions of each spec key, in one query."""
    from django.db.models import F, Window
    from django.db.models.functions import RowNumber

    ranked = (model_versions().filter(spec_key__in=spec_keys)
              .annotate(rank=Window(RowNumber(), partition_by=F("spec_key"), order_by=[F("created_at").desc(),
                                                                                      F("id").desc()]))
              .filter(rank__lte=per_key).order_by("spec_key", "rank"))
    versions: dict[str, list[PredictionModel]] = {key: [] for key in spec_keys}
    for version in ranked:
        versions[version.spec_key].append(version)
    return versions


def _words(target: str) -> dict:
    if target == PredictionTarget.EXPANSION:
        return {"chance": "to expand", "did": "expanded", "event": "expanded", "complement": False}
    return {"chance": "to renew", "did": "renewed", "event": "churned", "complement": True}


def _percent(value: float) -> str:
    return f"{100 * value:.0f}%"


def calibration_in_words(table: list[dict], target: str) -> list[dict]:
    """The calibration table in the KPI's own terms (chance to renew, not risk of churn), highest chance first,
    each band with a sentence: "Of the 120 accounts given a 70-80% chance to renew, 76% renewed"."""
    words = _words(target)
    rows = []
    for band in table:
        low, high = (1 - band["high"], 1 - band["low"]) if words["complement"] else (band["low"], band["high"])
        observed = 1 - band["observed"] if words["complement"] else band["observed"]
        predicted = 1 - band["predicted"] if words["complement"] else band["predicted"]
        rows.append({"low": round(low, 2), "high": round(high, 2), "accounts": band["count"],
                     "predicted": round(predicted, 4), "observed": round(observed, 4),
                     "says": f"Of the {band['count']:,} accounts given a {low * 100:.0f}-{high * 100:.0f}% chance "
                             f"{words['chance']}, {_percent(observed)} {words['did']}."})
    return sorted(rows, key=lambda row: -row["low"])


def deciles_in_words(deciles: list[dict], target: str) -> list[dict]:
    """Calibration by decile in the KPI's own terms: each tenth of the accounts, the likeliest first, with the
    chance it was given on average and how many had the outcome."""
    words = _words(target)
    rows = []
    for group in deciles:
        predicted = 1 - group["predicted"] if words["complement"] else group["predicted"]
        observed = 1 - group["observed"] if words["complement"] else group["observed"]
        rows.append({"accounts": group["count"], "predicted": round(predicted, 4), "observed": round(observed, 4),
                     "says": f"{group['count']:,} accounts given {_percent(predicted)} on average: "
                             f"{_percent(observed)} {words['did']}."})
    rows.sort(key=lambda row: -row["predicted"])
    for number, row in enumerate(rows, start=1):
        row["tenth"] = number
    return rows


CALIBRATION_LABELS = {
    "isotonic": "isotonic regression, on a later stretch of history than it was fitted on",
    "sigmoid": "Platt's sigmoid, on a later stretch of history than it was fitted on",
    "none": "its own probabilities (too little history for a separate calibration stretch)",
}


def _compared(model: PredictionModel) -> list[dict]:
    """The pooled back-test of the chosen model beside the other candidate and the three baselines, as rows."""
    pooled = model.metrics["pooled"]
    names = [model.algorithm, *[name for name in ALGORITHM_LABELS if name != model.algorithm], "base_rate",
             "health_score", "usage_trend"]
    rows = []
    for name in names:
        scores = pooled.get(name)
        if scores is None:
            continue
        label = (f"{ALGORITHM_LABELS[name]}{' (the one in use)' if name == model.algorithm else ''}"
                 if name in ALGORITHM_LABELS else BASELINE_LABELS[name])
        rows.append({"name": name, "label": label, "rows": scores.get("rows"), "auc": scores.get("auc"),
                     "brier": scores.get("brier"), "log_loss": scores.get("log_loss"),
                     "top_decile_lift": scores.get("top_decile_lift"), "coverage": scores.get("coverage", 1.0)})
    return rows


def _gap(table: list[dict]) -> float | None:
    """Mean |predicted - observed| over the rows of a calibration table."""
    total = sum(band["count"] for band in table)
    if not total:
        return None
    return sum(band["count"] * abs(band["predicted"] - band["observed"]) for band in table) / total


def _points(points: float) -> str:
    return f"{points:.0f} point{'' if round(points) == 1 else 's'}"


def _auc_text(auc: float | None) -> str:
    return "not measurable" if auc is None else f"{auc:.2f}"


def trust_in_words(model: PredictionModel) -> str:
    """How far to trust a version, in two or three sentences."""
    if model.status != PredictionModel.Status.TRAINED:
        return f"No model: {model.reason}"
    words = _words(model.target)
    pooled = model.metrics["pooled"]
    winner = pooled[model.algorithm]
    folds = model.metrics["folds"]
    dates = ", ".join(fold["test_on"] for fold in folds)
    ranking = (f"Tested out of time on {len(folds)} past date(s) ({dates}), {winner['rows']:,} accounts in all: it "
               f"ranked an account that {words['event']} above one that did not {_percent(winner['auc'] or 0.5)} of "
               f"the time (AUC {_auc_text(winner['auc'])}; 0.50 is a coin toss")
    baselines = []
    if pooled.get("health_score", {}).get("auc") is not None:
        baselines.append(f"the health score {_auc_text(pooled['health_score']['auc'])}")
    baselines.append(f"last period's usage trend {_auc_text(pooled.get('usage_trend', {}).get('auc'))}")
    ranking += f"; {' and '.join(baselines)})."
    gap = _gap(winner["calibration"])
    lift = winner["top_decile_lift"]
    calibration = (f" Its probabilities were off by {_points(100 * gap)} on average" if gap is not None else "")
    if lift:
        calibration += (f", and the riskiest tenth of accounts {words['event']} {lift:.1f} times as often as "
                        f"the average." if words["complement"] else
                        f", and the likeliest tenth expanded {lift:.1f} times as often as the average.")
    return ranking + calibration


def model_report(model: PredictionModel) -> dict:
    """A version as the API and the page show it: what it learned from, and its back-test in numbers and words."""
    report = {
        "id": model.pk, "kpi": model.kpi_slug, "target": model.target, "version": model.version,
        "cutoff": model.cutoff, "status": model.status, "reason": model.reason, "trigger": model.trigger,
        "trained_at": model.created_at, "seconds": round(model.seconds, 2), "spec": model.spec,
        "algorithm": model.algorithm, "algorithm_label": ALGORITHM_LABELS.get(model.algorithm, ""),
        "calibration_method": model.calibration,
        "calibration_label": CALIBRATION_LABELS.get(model.calibration, ""), "features": model.features,
        "hyperparameters": model.hyperparameters,
        "training_window": {"observed_from": model.observed_from, "observed_until": model.observed_until,
                            "observations": model.rows, "events": model.events, "censored": model.censored,
                            # Versions trained before samples existed learned from every account (no "sample").
                            "sample": (model.metrics or {}).get("sample")},
        "trust": trust_in_words(model),
    }
    if model.status == PredictionModel.Status.TRAINED:
        pooled = model.metrics["pooled"]
        report["backtest"] = {
            "winner": model.metrics["winner"], "folds": model.metrics["folds"],
            "by_date": [_fold_row(fold, model.algorithm) for fold in model.metrics["folds"]],
            "pooled": {name: {key: value for key, value in scores.items() if key not in ("calibration", "deciles")}
                       for name, scores in pooled.items()},
            "compared": _compared(model),
            "calibration": calibration_in_words(pooled[model.algorithm]["calibration"], model.target),
            "deciles": deciles_in_words(pooled[model.algorithm].get("deciles", []), model.target),
            "calibration_gap": _gap(pooled[model.algorithm]["calibration"]),
        }
    return report


def _fold_row(fold: dict, algorithm: str) -> dict:
    """One fold as the page's table reads it: the winner, the other candidate and the baselines side by side."""
    others = [scores for name, scores in fold["candidates"].items() if name != algorithm]
    return {"test_on": fold["test_on"], "accounts": fold["test_rows"], "events": fold["test_events"],
            "model": fold["candidates"][algorithm], "other": others[0] if others else {},
            "health_auc": fold["baselines"]["health_score"]["auc"],
            "usage_auc": fold["baselines"]["usage_trend"]["auc"]}


def pooled_auc(model: PredictionModel) -> float | None:
    """A trained version's pooled back-test AUC (None for a version without a model)."""
    if model.status != PredictionModel.Status.TRAINED:
        return None
    return model.metrics["pooled"][model.algorithm]["auc"]


def feature_glossary(columns: list[str]) -> list[dict]:
    """The model's inputs with what each means (categories once, by name)."""
    seen, rows = set(), []
    for column in columns:
        name = column.split("=", 1)[0]
        if name in seen:
            continue
        seen.add(name)
        feature = BY_NAME.get(name)
        rows.append({"name": name, "label": feature.label if feature else name.title(),
                     "group": feature.group if feature else "account",
                     "description": feature.description if feature else f"The account's {name} (one column a value)."})
    return rows


# --- the renewal forecast ---------------------------------------------------------------------------------

def quarter_bounds(day: date) -> tuple[date, date]:
    first = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    following = date(first.year + (first.month + 2) // 12, (first.month + 2) % 12 + 1, 1)
    return first, following - timedelta(days=1)


def quarter_label(first: date) -> str:
    return f"{first.year}-Q{(first.month - 1) // 3 + 1}"


def parse_quarter(text: str) -> tuple[date, date]:
    """"2026-Q3" as its first and last day; ValueError otherwise."""
    year, _, number = text.partition("-Q")
    if not (ascii_digits(year) and number in ("1", "2", "3", "4")) or not 2000 <= int(year) <= 2100:
        raise ValueError(f"quarter must look like 2026-Q3, not {text!r}")
    return quarter_bounds(date(int(year), 3 * (int(number) - 1) + 1, 1))


@dataclass
class ForecastGroup:
    dimension: str
    segment: str
    accounts: int = 0
    expected_accounts: float = 0.0
    arr: float = 0.0
    expected_arr: float = 0.0
    variance: float = 0.0
    members: list = field(default_factory=list)

    def add(self, probability: float, arr: float) -> None:
        self.accounts += 1
        self.expected_accounts += probability
        self.arr += arr
        self.expected_arr += probability * arr
        self.variance += probability * (1 - probability) * arr * arr

    def as_dict(self) -> dict:
        spread = INTERVAL_Z * math.sqrt(self.variance)
        return {"dimension": self.dimension, "segment": self.segment, "accounts": self.accounts,
                "expected_renewing_accounts": round(self.expected_accounts, 2), "arr_due": round(self.arr, 2),
                "expected_renewing_arr": round(self.expected_arr, 2),
                "interval_90": [round(max(0.0, self.expected_arr - spread), 2),
                                round(min(self.arr, self.expected_arr + spread), 2)]}


_DUE = """
    SELECT mv.account_id, mv.value / 100, (mv.details ->> 'arr')::float8, (mv.details ->> 'renewal_date')::date,
           coalesce(nullif(a.plan, ''), '(none)'), coalesce(nullif(a.region, ''), '(none)'),
           coalesce(nullif(a.industry, ''), '(none)'), coalesce(u.email, '(unowned)'), a.name
    FROM metrics_metricvalue mv
    JOIN accounts_account a ON a.id = mv.account_id
    LEFT JOIN users_user u ON u.id = a.owner_id
    WHERE mv.kpi_id = %(kpi)s AND mv.scope = 'account' AND mv.as_of = %(as_of)s AND mv.value IS NOT NULL
      AND (mv.details ->> 'renewal_date')::date BETWEEN %(first)s AND %(last)s
    ORDER BY (mv.details ->> 'arr')::float8 * (1 - mv.value / 100) DESC, a.name
"""


def _latest_as_of(kpi: KPI, on_or_before: date, within_days: int | None = None) -> date | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(as_of) FROM metrics_metricvalue WHERE kpi_id = %s AND scope = 'portfolio' "
                       "AND as_of <= %s AND (%s::int IS NULL OR as_of > %s::date - %s::int)",
                       [kpi.pk, on_or_before, within_days, on_or_before, within_days])
        return cursor.fetchone()[0]


def renewal_forecast(*, kpi: KPI, first: date, last: date, today: date) -> dict:
    """The renewals due between `first` and `last` by the latest stored probabilities (on or before today):
    expected renewing accounts and ARR (Σ p, Σ p x ARR) with a 90% interval, in all and by segment and owner, and
    the accounts most at stake."""
    as_of = _latest_as_of(kpi, today)
    result = {"kpi": kpi.slug, "quarter": quarter_label(first), "first": first, "last": last, "as_of": as_of,
              "total": None, "by": [], "accounts": []}
    if as_of is None:
        return result
    total = ForecastGroup("", "")
    groups: dict[tuple[str, str], ForecastGroup] = {}
    with connection.cursor() as cursor:
        cursor.execute(_DUE, {"kpi": kpi.pk, "as_of": as_of, "first": first, "last": last})
        rows = cursor.fetchall()
    for account_id, probability, arr, renewal, plan, region, industry, owner, name in rows:
        arr = arr or 0.0
        total.add(probability, arr)
        for dimension, segment in (("plan", plan), ("region", region), ("industry", industry), ("owner", owner)):
            groups.setdefault((dimension, segment), ForecastGroup(dimension, segment)).add(probability, arr)
        result["accounts"].append({"account_id": account_id, "name": name, "renewal_date": renewal, "owner": owner,
                                   "probability": round(probability, 4), "arr": arr,
                                   "arr_at_risk": round((1 - probability) * arr, 2)})
    result["total"] = total.as_dict()
    result["by"] = [group.as_dict() for _, group in sorted(groups.items())]
    return result


_BACKTEST = """
    WITH quarters AS (
        SELECT * FROM unnest(%(firsts)s::date[], %(lasts)s::date[], %(as_ofs)s::date[]) AS q(first, last, as_of)
    ), due AS (
        SELECT q.first, mv.value / 100 AS p, (mv.details ->> 'arr')::float8 AS arr,
               (mv.details ->> 'renewal_date')::date AS renewal, mv.account_id
        FROM quarters q
        JOIN metrics_metricvalue mv ON mv.kpi_id = %(kpi)s AND mv.scope = 'account' AND mv.as_of = q.as_of
             AND mv.value IS NOT NULL
        WHERE (mv.details ->> 'renewal_date')::date BETWEEN q.first AND q.last
    ), decided AS (
        SELECT due.*, coalesce((SELECT r.mrr FROM accounts_revenuesnapshot r
                                WHERE r.account_id = due.account_id AND r.month <= due.renewal + %(grace)s::int
                                ORDER BY r.month DESC LIMIT 1), 0) > 0 AS renewed
        FROM due
    )
    SELECT first, count(*), sum(p), sum(p * arr), sum(p * (1 - p) * arr * arr), sum(arr),
           count(*) FILTER (WHERE renewed), coalesce(sum(arr) FILTER (WHERE renewed), 0)
    FROM decided GROUP BY first
"""


def forecast_backtest(*, kpi: KPI, today: date, quarters: int = 4) -> list[dict]:
    """The same forecast made at the start of each of the last `quarters` decided quarters (every renewal in it
    plus the grace days is past), from the values stored then, beside what happened: renewed = still paying
    grace_days after the renewal date."""
    grace = int((kpi.params or {}).get("grace_days", 30))
    first, _ = quarter_bounds(today)
    candidates = []
    while len(candidates) < quarters and first.year > 2000:
        first, last = quarter_bounds(first - timedelta(days=1))
        if last + timedelta(days=grace) < today:
            candidates.append((first, last, _latest_as_of(kpi, first, within_days=35)))
    measured = [(first, last, as_of) for first, last, as_of in candidates if as_of is not None]
    rows = {}
    if measured:
        with connection.cursor() as cursor:
            cursor.execute(_BACKTEST, {"kpi": kpi.pk, "grace": grace, "firsts": [row[0] for row in measured],
                                       "lasts": [row[1] for row in measured], "as_ofs": [row[2] for row in measured]})
            rows = {row[0]: row[1:] for row in cursor.fetchall()}
    result = []
    for first, last, as_of in candidates:
        entry = {"quarter": quarter_label(first), "first": first, "last": last, "forecast_on": as_of}
        if as_of is None:
            entry["reason"] = (f"No {kpi.name.lower()} values stored in the 35 days before {first}: compute them "
                               "with kpi_backfill to back-test the forecast.")
        elif first not in rows:
            entry["reason"] = f"No renewal was due in {quarter_label(first)} among the accounts scored on {as_of}."
        else:
            accounts, expected, expected_arr, variance, arr, renewed, renewed_arr = rows[first]
            spread = INTERVAL_Z * math.sqrt(variance or 0)
            entry.update({
                "accounts": accounts, "expected_renewing_accounts": round(expected, 2), "renewed_accounts": renewed,
                "arr_due": round(arr, 2), "expected_renewing_arr": round(expected_arr, 2),
                "interval_90": [round(max(0.0, expected_arr - spread), 2), round(min(arr, expected_arr + spread), 2)],
                "renewed_arr": round(renewed_arr, 2),
                "within_interval": expected_arr - spread <= renewed_arr <= expected_arr + spread})
        result.append(entry)
    return result


# --- which KPIs predict renewal ----------------------------------------------------------------------------

_QUARTILES = f"""
    WITH renewals AS (
        -- every decided renewal: the renewal date's yearly anniversaries up to today, less the grace days
        SELECT a.id AS account_id, r::date AS renewal
        FROM accounts_account a
        CROSS JOIN LATERAL generate_series(
            {next_renewal_sql("a.renewal_date", "coalesce(a.start_date, a.renewal_date - 3660)")}::timestamp,
            least(a.renewal_date, %(today)s::date - %(grace)s::int)::timestamp, interval '1 year') AS r
        WHERE a.renewal_date IS NOT NULL
    ), observed AS (
        SELECT DISTINCT ON (r.account_id, r.renewal) r.account_id, r.renewal, mv.value
        FROM renewals r
        JOIN metrics_metricvalue mv ON mv.account_id = r.account_id AND mv.kpi_id = %(kpi)s AND mv.scope = 'account'
             AND mv.as_of BETWEEN r.renewal - 120 AND r.renewal - 30 AND mv.value IS NOT NULL
        ORDER BY r.account_id, r.renewal, mv.as_of DESC
    ), outcome AS (
        SELECT o.value,
               coalesce((SELECT x.mrr FROM accounts_revenuesnapshot x WHERE x.account_id = o.account_id
                         AND x.month <= o.renewal - 1 ORDER BY x.month DESC LIMIT 1), 0) > 0 AS paying,
               coalesce((SELECT x.mrr FROM accounts_revenuesnapshot x WHERE x.account_id = o.account_id
                         AND x.month <= o.renewal + %(grace)s::int ORDER BY x.month DESC LIMIT 1), 0) > 0 AS renewed
        FROM observed o
    ), ranked AS (
        SELECT value, renewed, ntile(4) OVER (ORDER BY value) AS quartile FROM outcome WHERE paying
    )
    SELECT quartile, count(*), count(*) FILTER (WHERE renewed), min(value), max(value)
    FROM ranked GROUP BY quartile ORDER BY quartile
"""


def renewal_by_quartile(*, kpi: KPI, today: date, grace_days: int = 30) -> dict:
    """For a KPI with account values: every decided renewal (the renewal date's yearly anniversaries, the account
    paying going into it) with the KPI's value 30 to 120 days before it (the latest then), in quartiles of that
    value, with how many renewed (still paying grace_days after). Shows whether the KPI moves renewals here."""
    with connection.cursor() as cursor:
        cursor.execute(_QUARTILES, {"kpi": kpi.pk, "today": today, "grace": grace_days})
        rows = cursor.fetchall()
    quartiles = [{"quartile": quartile, "renewals": count, "renewed": renewed,
                  "renewal_rate": round(renewed / count, 4) if count else None, "from": low, "to": high}
                 for quartile, count, renewed, low, high in rows]
    total = sum(row["renewals"] for row in quartiles)
    rates = [row["renewal_rate"] for row in quartiles if row["renewal_rate"] is not None]
    spread = (rates[-1] - rates[0]) if len(rates) == 4 else None
    return {"kpi": kpi.slug, "renewals": total, "quartiles": quartiles, "grace_days": grace_days,
            "spread": None if spread is None else round(spread, 4),
            "says": _quartile_words(kpi, quartiles, spread)}


def _quartile_words(kpi: KPI, quartiles: list[dict], spread: float | None) -> str:
    if len(quartiles) < 4:
        return (f"Not enough decided renewals with a {kpi.name.lower()} value 30-120 days before them yet "
                f"({sum(row['renewals'] for row in quartiles)}).")
    low, high = quartiles[0], quartiles[-1]
    return (f"Accounts in the lowest quarter of {kpi.name.lower()} renewed {_percent(low['renewal_rate'])} of the "
            f"time, those in the highest {_percent(high['renewal_rate'])} ({spread * 100:+.0f} points), over "
            f"{sum(row['renewals'] for row in quartiles):,} renewals.")

