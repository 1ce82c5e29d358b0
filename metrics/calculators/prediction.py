"""Predictive KPIs: renewal probability and expansion potential (see ../shared/METRICS.md, Predictive KPIs).

The probabilities come from the tenant's own model (metrics.prediction): the calculator asks for every account's
prediction on the as-of date before its statement runs, and its query reads them back, so the values are stored,
versioned, aggregated and evaluated by alert rules like any other KPI's.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from datetime import date
from typing import ClassVar

from django.db import connection

from core.db import psycopg_cursor
from metrics.calculators.base import (
    GROUP_COLUMNS,
    Aggregate,
    Calculator,
    Param,
    by_group,
    merged_ratio,
    merged_sum,
    register,
)
from metrics.calculators.usage import ACTIVATION_EVENTS, CORE_FEATURE, CORE_FEATURES, VALUE_EVENT, EventNames
from metrics.inputs import run_table
from metrics.prediction.spec import EXPANSION, RENEWAL, Spec

_COMMON_PARAMS = {
    "horizon_days": Param(int, default=None, minimum=1, maximum=730,
                          help="Days after the as-of date; left out: through the account's next renewal date (or "
                               "90 days without one)."),
    "grace_days": Param(int, default=30, minimum=0, maximum=365,
                        help="Days after a renewal date the account must still be paying to count as renewed."),
    "history_days": Param(int, default=730, minimum=90, maximum=1825,
                          help="Days of history the model learns from, ending on the as-of date."),
    "min_events": Param(int, default=20, minimum=5, maximum=100000,
                        help="Observations of each outcome the model needs (fewer: the value is null)."),
    "retrain_days": Param(int, default=30, minimum=1, maximum=365,
                          help="A model serves the dates up to this many days after its cutoff."),
    "core_features": EventNames(default=CORE_FEATURES, help="The event names of the core features (breadth)."),
    "key_feature": Param(str, default=CORE_FEATURE, help="The event name of the key feature."),
    "activation_events": EventNames(default=ACTIVATION_EVENTS, help="Events that count as activation."),
    "value_event": Param(str, default=VALUE_EVENT, help="The event that means the account got value."),
}

def _row(prediction) -> dict:
    """A prediction as the statement reads it: value in percent (2 decimals), numerator p, details."""
    return {"account_id": prediction.account_id,
            "value": None if prediction.probability is None else round(100 * prediction.probability, 2),
            "numerator": prediction.probability, "details": prediction.details}


def _copied(table: str, chunks: Iterable[list]) -> None:
    """Fill `table` with the predictions, a chunk at a time, through COPY. The first chunk is taken before the
    COPY starts: making it runs every query the predictions need, and a query on this connection during the
    COPY would wait for the COPY, which waits for it."""
    chunks = iter(chunks)
    first = next(chunks, [])
    with connection.cursor() as cursor:  # Django's cursor: the tenant's search path is set on the connection
        cursor.execute(f"CREATE TEMPORARY TABLE {table} (account_id bigint, value float8, numerator float8, "
                       "details jsonb)")
    with psycopg_cursor() as cursor, cursor.copy(
            f"COPY {table} (account_id, value, numerator, details) FROM STDIN") as copy:
        for chunk in itertools.chain([first], chunks):
            for prediction in chunk:
                row = _row(prediction)
                copy.write_row((row["account_id"], row["value"], row["numerator"], json.dumps(row["details"])))


_MODEL_TEXT = (
    "It comes from the tenant's own model (a regularised logistic regression or gradient-boosted trees, whichever "
    "did better in the out-of-time back-test, then calibrated on a later stretch of history), trained only on "
    "outcomes known on t, with features dated on or before t: usage level and trend over 30 and 90 days, active "
    "days and users, seat use, breadth and key-feature use, activation and time to first value, NPS, CSAT and CES "
    "answers and how recent they are, tickets, unresolved tickets and first-response times, tenure, MRR and its "
    "change over 90 days and a year, seats, plan, region, industry, days to renewal and open alerts. Null, with "
    "the reason, when the history cannot support a model (fewer than min_events observations of either "
    "outcome) and for accounts with no revenue recorded. Each account's value lists its largest drivers in "
    "points of probability. Segment and portfolio: the mean probability of their accounts.")


class PredictiveCalculator(Calculator):
    """An account's probability (0-100) with numerator p (0-1) and denominator 1, so Σ numerators is the
    expected number of accounts with the outcome; details carry the drivers, the ARR and the model."""

    target: ClassVar[str]
    expected: ClassVar[str]  # the aggregate's name for Σ p: "expected_renewing"
    params = dict(_COMMON_PARAMS)

    def spec(self, params: dict) -> Spec:
        return Spec(target=self.target, horizon_days=params["horizon_days"], grace_days=params.get("grace_days", 0),
                    share=params.get("share", 0.10), history_days=params["history_days"],
                    min_events=params["min_events"], core_features=tuple(params["core_features"]),
                    key_feature=params["key_feature"], activation_events=tuple(params["activation_events"]),
                    value_event=params["value_event"])

    def shares(self, params: dict) -> set[str]:
        """The accounts' features, read once per run for every predictive KPI (prediction.services)."""
        return super().shares(params) | {"prediction-observations"}

    def sql_params(self, *, as_of: date, params: dict, account_ids: Sequence[int] | None) -> dict:
        """The accounts' predictions for the statement: inside a run, COPYed a chunk at a time into a temporary
        table the run drops (memory stays that of a chunk, whatever the number of accounts); outside one (a KPI
        computed on its own), as one JSON parameter."""
        from metrics.prediction.services import account_predictions

        chunks = account_predictions(spec=self.spec(params), as_of=as_of, retrain_days=params["retrain_days"],
                                     account_ids=account_ids)
        table = run_table("predictions")
        extra: dict = {"predictions_table": table}
        if table is None:
            extra["predictions"] = json.dumps([_row(prediction) for chunk in chunks for prediction in chunk])
        else:
            _copied(table, chunks)
        return {**super().sql_params(as_of=as_of, params=params, account_ids=account_ids), **extra}

    def account_sql(self, params: dict) -> str:
        return """
            SELECT p.account_id, p.numerator, CASE WHEN p.numerator IS NOT NULL THEN 1 END, 1, p.value, p.details
            FROM {predictions}
        """

    def account_query(self, params: dict, params_sql: dict) -> tuple[str, dict]:
        """`account_sql` reading the predictions from the run's table, or from the JSON parameter outside a run."""
        table = params_sql["predictions_table"]
        source = (f"{table} p" if table else "jsonb_to_recordset(%(predictions)s::jsonb) "
                  "AS p(account_id bigint, value float8, numerator float8, details jsonb)")
        return self.account_sql(params).replace("{predictions}", source), params_sql

    def aggregate_sql(self, params: dict) -> str:
        # Per group: the mean probability (of the accounts' values), Σ p (expected accounts), and Σ p x ARR.
        return f"""
            SELECT {GROUP_COLUMNS}, avg(value), coalesce(sum(numerator), 0), count(value), count(value),
                   jsonb_build_object(
                       '{self.expected}', round(coalesce(sum(numerator), 0)::numeric, 2),
                       'accounts', count(value),
                       'arr', round(coalesce(sum((details ->> 'arr')::float8) FILTER (WHERE value IS NOT NULL),
                                             0)::numeric, 2),
                       '{self.expected}_arr', round(coalesce(sum((details ->> 'expected_arr')::float8), 0)::numeric, 2),
                       'without_value', count(details) - count(value),
                       'reason', min(details ->> 'reason') FILTER (WHERE value IS NULL))
            FROM members
            {by_group()}
        """

    def merge_aggregate(self, stored: Aggregate, added: Aggregate, removed: Aggregate, *, as_of: date,
                        params: dict) -> Aggregate | None:
        """Every number is a sum (the ARRs are sums of amounts in cents, rounded back to them); the reason of the
        accounts without a probability is their smallest, known unless a removed contribution may have held it."""
        reason = _merged_reason(*(part.details or {} for part in (stored, added, removed)))
        if reason is False:
            return None
        merged = merged_ratio(stored, added, removed, scale=100.0)
        # The mean of the accounts' values (each rounded to 2 decimals): a group's sum of them is its mean x count.
        value_sum = merged_sum(*((part.value or 0.0) * (part.denominator or 0) for part in (stored, added, removed)))
        merged.value = value_sum / merged.denominator if merged.denominator else None
        parts = [part.details or {} for part in (stored, added, removed)]

        def total(key: str) -> float:
            return round(float(parts[0].get(key) or 0) + float(parts[1].get(key) or 0)
                         - float(parts[2].get(key) or 0), 2)

        merged.details = {self.expected: round(merged.numerator, 2), "accounts": merged.sample_size,
                          "arr": total("arr"), f"{self.expected}_arr": total(f"{self.expected}_arr"),
                          "without_value": int(total("without_value")), "reason": reason}
        return merged


def _merged_reason(stored: dict, added: dict, removed: dict) -> str | bool | None:
    """min(reason) over a group's accounts without a probability, after the touched accounts' old reasons are
    taken out and their new ones put in; False when that cannot be known without reading every account (a
    removed reason was the group's smallest, and no new one is at least as small)."""
    before, now, gone = stored.get("reason"), added.get("reason"), removed.get("reason")
    if now is not None and (before is None or now <= before):
        return now
    if gone is not None and before is not None and gone <= before:
        return False
    return min((reason for reason in (before, now) if reason is not None), default=None)


@register
class RenewalProbability(PredictiveCalculator):
    id = "prediction.renewal"
    name = "Renewal probability"
    target = RENEWAL
    expected = "expected_renewing"
    formula = (
        "Renewal probability = the calibrated probability, in percent, that the account is still paying (MRR above "
        "0) horizon_days after the as-of date t, and, when a renewal date falls in that time, still paying "
        "grace_days after it; without horizon_days, through the account's next renewal date (renewals recur "
        "yearly on the renewal date), or 90 days for an account without one. " + _MODEL_TEXT +
        " Details give the expected renewing accounts (Σ p) and the expected renewing ARR (Σ p x ARR, ARR = 12 x "
        "MRR on t).")


@register
class ExpansionPotential(PredictiveCalculator):
    id = "prediction.expansion"
    name = "Expansion potential"
    target = EXPANSION
    expected = "expected_expanding"
    params = {**{name: param for name, param in _COMMON_PARAMS.items() if name != "grace_days"},
              "share": Param(float, default=0.10, minimum=0.01, maximum=10,
                             help="The rise of MRR that counts as expanding: 0.10 is 10%.")}
    formula = (
        "Expansion potential = the calibrated probability, in percent, that the account's MRR horizon_days after "
        "the as-of date t is at least (1 + share) x its MRR on t (share 0.10: a rise of 10% or more); without "
        "horizon_days, through the account's next renewal date (yearly on the renewal date), or 90 days without "
        "one. " + _MODEL_TEXT + " Details give the expected expanding accounts (Σ p) and the ARR they hold, "
        "weighted by p (Σ p x ARR).")
