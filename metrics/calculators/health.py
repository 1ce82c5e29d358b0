"""The health score: a weighted composite of component KPIs (see docs/metrics.md, Health score), and the
comment sentiment KPI it can use as a component."""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

from psycopg.types.json import Jsonb

from metrics.calculators.base import (
    ACCOUNTS_FILTER,
    GROUP_COLUMNS,
    Aggregate,
    Calculator,
    CalculatorError,
    Param,
    accounts_filter,
    by_group,
    merged_counts,
    merged_ratio,
    register,
)

BANDS = ("red", "yellow", "green")
DEFAULT_BANDS = {"red": 50.0, "yellow": 75.0}
DEFAULT_COMPONENTS = [
    {"kpi": "usage-trend", "weight": 2.0},
    {"kpi": "seat-utilization", "weight": 2.0},
    {"kpi": "adoption-breadth", "weight": 1.5},
    {"kpi": "nps", "weight": 1.5},
    {"kpi": "ticket-load", "weight": 1.0},
]
# The account attributes a segment override can name, in order of precedence when several match.
SEGMENT_DIMENSIONS = ("plan", "region", "industry", "lifecycle_stage")
_SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")


def _components(name: str, value: Any) -> list[dict]:
    """A non-empty list of {"kpi": slug, "weight": number > 0}, each KPI once."""
    if not isinstance(value, list) or not value:
        raise CalculatorError(f"Parameter {name!r} must be a non-empty list of {{\"kpi\": slug, \"weight\": number}}.")
    cleaned: list[dict] = []
    for position, component in enumerate(value, start=1):
        where = f"Parameter {name!r}, component {position}"
        if not isinstance(component, dict):
            raise CalculatorError(f"{where} must be an object {{\"kpi\": slug, \"weight\": number}}.")
        unknown = sorted(set(component) - {"kpi", "weight"})
        if unknown:
            raise CalculatorError(f"{where} has unknown key(s) {', '.join(unknown)}; known: kpi, weight.")
        slug, weight = component.get("kpi"), component.get("weight")
        if not isinstance(slug, str) or not _SLUG.match(slug.strip()):
            raise CalculatorError(f"{where} needs \"kpi\": the slug of a KPI.")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight) or weight <= 0:
            raise CalculatorError(f"{where} ({slug.strip()}) needs a \"weight\" greater than 0.")
        cleaned.append({"kpi": slug.strip(), "weight": float(weight)})
    slugs = [component["kpi"] for component in cleaned]
    repeated = sorted({slug for slug in slugs if slugs.count(slug) > 1})
    if repeated:
        raise CalculatorError(f"Parameter {name!r} lists {', '.join(repeated)} more than once.")
    return cleaned


class ComponentsParam(Param):
    def clean(self, name: str, value: Any) -> Any:
        return _components(name, self.default if value is None else value)


class BandsParam(Param):
    """{"red": r, "yellow": y}: the scores below r are red, below y yellow, the rest green."""

    def clean(self, name: str, value: Any) -> Any:
        if value is None:
            return dict(self.default)
        if not isinstance(value, dict):
            raise CalculatorError(f"Parameter {name!r} must be an object like {{\"red\": 50, \"yellow\": 75}}.")
        unknown = sorted(set(value) - set(DEFAULT_BANDS))
        if unknown:
            raise CalculatorError(f"Parameter {name!r} has unknown key(s) {', '.join(unknown)}; known: red, yellow "
                                  "(the scores where yellow and green begin).")
        bands = {**self.default, **value}
        for band, bound in bands.items():
            if isinstance(bound, bool) or not isinstance(bound, int | float) or not 0 <= bound <= 100:
                raise CalculatorError(f"Parameter {name!r}: {band!r} must be a number from 0 to 100.")
        if not bands["red"] < bands["yellow"]:
            raise CalculatorError(f"Parameter {name!r}: red ({bands['red']:g}) must be below yellow "
                                  f"({bands['yellow']:g}); red ends where yellow begins, yellow where green begins.")
        return {band: float(bound) for band, bound in bands.items()}


def segment_key(name: str, key: Any) -> str:
    """The override key "dimension:segment", with a dimension an override can name and the segment trimmed."""
    dimension, _, segment = str(key).partition(":")
    if dimension not in SEGMENT_DIMENSIONS or not segment.strip():
        raise CalculatorError(f"Parameter {name!r}: {key!r} must be \"dimension:segment\" with a dimension "
                              f"among {', '.join(SEGMENT_DIMENSIONS)}.")
    return f"{dimension}:{segment.strip()}"


class SegmentWeightsParam(Param):
    """{"plan:Enterprise": [components...]}: other components and weights for the accounts of a segment."""

    def clean(self, name: str, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise CalculatorError(f"Parameter {name!r} must be an object like "
                                  f"{{\"plan:Enterprise\": [{{\"kpi\": \"nps\", \"weight\": 2}}]}}.")
        return {segment_key(name, key): _components(f"{name}[{key}]", components)
                for key, components in value.items()}


class SegmentBandsParam(Param):
    """{"plan:Enterprise": {"red": 60, "yellow": 85}}: other bands for the accounts of a segment; a bound left out
    is the KPI's own (filled in by HealthScore.clean_params, which knows them)."""

    def clean(self, name: str, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise CalculatorError(f"Parameter {name!r} must be an object like "
                                  f"{{\"plan:Enterprise\": {{\"red\": 60, \"yellow\": 85}}}}.")
        cleaned = {}
        for key, bands in value.items():
            if not isinstance(bands, dict) or not bands:
                raise CalculatorError(f"Parameter {name!r}[{key}] must be an object like {{\"red\": 60, "
                                      "\"yellow\": 85}.")
            cleaned[segment_key(name, key)] = bands
        return cleaned


def _first_segment_named(parameter: str, entry: str) -> str:
    """A LATERAL join giving account `keyed`'s first segment key (in order of precedence) that the jsonb object
    `parameter` names, as `chosen.segment_key`, with its entry as `chosen.<entry>`; NULLs when none is named."""
    return f"""LEFT JOIN LATERAL (
                    SELECT key.segment_key, %({parameter})s::jsonb -> key.segment_key AS {entry}
                    FROM unnest(keyed.segment_keys) WITH ORDINALITY AS key(segment_key, precedence)
                    WHERE %({parameter})s::jsonb -> key.segment_key IS NOT NULL
                    ORDER BY key.precedence
                    LIMIT 1
                ) chosen ON true"""


@register
class HealthScore(Calculator):
    id = "health.score"
    name = "Health score"
    depends_on_kpis = True
    params = {
        "components": ComponentsParam(list, default=DEFAULT_COMPONENTS,
                                      help="The component KPIs and their weights: [{\"kpi\": slug, \"weight\": w}]."),
        "bands": BandsParam(dict, default=DEFAULT_BANDS, help="Where yellow and green begin."),
        "segment_weights": SegmentWeightsParam(
            dict, default={}, help="Components for the accounts of a segment, e.g. {\"plan:Enterprise\": [...]}."),
        "segment_bands": SegmentBandsParam(
            dict, default={}, help="Bands for the accounts of a segment, e.g. {\"plan:Enterprise\": {\"red\": 60}}."),
    }
    formula = ("Health = Σ w_j x s_j / Σ w_j over the component KPIs that have a value for the account on the as-of "
               "date, where s_j maps the component's value linearly from its KPI's poor value (0 points) to its good "
               "value (100 points), clamped to 0-100 (so lower-is-better KPIs, whose poor value is above the good "
               "one, map the other way). A component without a value, or whose KPI has no poor and good values, "
               "drops out and the other weights are renormalised; none left gives no score. Rounded to 2 decimals; "
               "bands: red below 50, yellow below 75, green from 75 (configurable). Accounts of a segment named in "
               "segment_weights use its components instead, and those of a segment named in segment_bands its bands "
               "(each: the first match in the order plan, region, industry, lifecycle stage). "
               "Segment and portfolio: the mean of the account scores, with the count of accounts per band.")

    def clean_params(self, raw: dict | None) -> dict:
        params = super().clean_params(raw)
        # A segment's bands start from the KPI's own: {"red": 60} moves only where yellow begins.
        own = BandsParam(dict, default=params["bands"])
        params["segment_bands"] = {key: own.clean(f"segment_bands[{key}]", bands)
                                   for key, bands in params["segment_bands"].items()}
        return params

    def sql_params(self, *, params: dict, **kwargs) -> dict:
        return {**super().sql_params(params=params, **kwargs), "components": Jsonb(params["components"]),
                "segment_weights": Jsonb(params["segment_weights"]), "segment_bands": Jsonb(params["segment_bands"]),
                "red": params["bands"]["red"], "yellow": params["bands"]["yellow"]}

    def account_sql(self, params: dict) -> str:
        # Composite KPIs never feed composites: that rules out cycles, and reading a value this run replaces.
        return f"""
            WITH keyed AS (
                SELECT a.id AS account_id,
                       ARRAY['plan:' || coalesce(nullif(a.plan, ''), '(none)'),
                             'region:' || coalesce(nullif(a.region, ''), '(none)'),
                             'industry:' || coalesce(nullif(a.industry, ''), '(none)'),
                             'lifecycle_stage:' || a.lifecycle_stage] AS segment_keys
                FROM accounts_account a
                -- A churned customer has no health to manage: scoring it would count it in the distribution
                -- and the portfolio's score (the dashboard shows the churned beside them instead).
                WHERE {ACCOUNTS_FILTER} AND a.status = 'active'
            ), configured AS (
                SELECT keyed.account_id, chosen.segment_key,
                       coalesce(chosen.components, %(components)s::jsonb) AS components
                FROM keyed
                {_first_segment_named("segment_weights", "components")}
            ), banded AS (
                SELECT keyed.account_id, chosen.segment_key,
                       coalesce((chosen.bands ->> 'red')::float8, %(red)s) AS red,
                       coalesce((chosen.bands ->> 'yellow')::float8, %(yellow)s) AS yellow
                FROM keyed
                {_first_segment_named("segment_bands", "bands")}
            ), parts AS (
                SELECT configured.account_id, configured.segment_key, component.position,
                       component.item ->> 'kpi' AS kpi, (component.item ->> 'weight')::float8 AS weight,
                       mv.id AS stored_id, mv.value,
                       CASE WHEN k.id IS NULL THEN 'no such component KPI'
                            WHEN mv.value IS NULL THEN 'no value'
                            WHEN k.poor_value IS NULL OR k.good_value IS NULL THEN 'KPI has no poor and good values'
                            WHEN k.poor_value::numeric = k.good_value::numeric
                                 THEN 'KPI poor and good values are equal'
                       END AS dropped,
                       CASE WHEN mv.value IS NOT NULL AND k.poor_value::numeric <> k.good_value::numeric
                            -- in numeric, rounded: tiny float gaps would underflow float8 arithmetic
                            THEN round(least(100, greatest(0,
                                 100 * (mv.value::numeric - k.poor_value::numeric)
                                     / (k.good_value::numeric - k.poor_value::numeric))), 6)::float8
                       END AS points
                FROM configured
                CROSS JOIN LATERAL jsonb_array_elements(configured.components)
                    WITH ORDINALITY AS component(item, position)
                LEFT JOIN metrics_kpi k ON k.slug = component.item ->> 'kpi' AND k.calculator <> 'health.score'
                LEFT JOIN metrics_metricvalue mv ON mv.kpi_id = k.id AND mv.scope = 'account'
                     AND mv.account_id = configured.account_id AND mv.as_of = %(as_of)s
            ), weighed AS (
                SELECT parts.*,
                       sum(weight) FILTER (WHERE points IS NOT NULL) OVER (PARTITION BY account_id) AS weights
                FROM parts
            ), scored AS (
                SELECT account_id, segment_key,
                       sum(weight * points) AS weighted, max(weights) AS weights, count(points) AS components,
                       round((sum(weight * points) / max(weights))::numeric, 2)::float8 AS score,
                       jsonb_agg(jsonb_build_object('kpi', kpi, 'value', value, 'points', points, 'weight', weight,
                                                    'contribution', weight * points / weights, 'dropped', dropped)
                                 ORDER BY position) AS detail
                FROM weighed
                GROUP BY account_id, segment_key
                HAVING count(stored_id) > 0
            )
            SELECT scored.account_id, weighted, weights, components, score,
                   jsonb_build_object(
                       'band', CASE WHEN score < banded.red THEN 'red' WHEN score < banded.yellow THEN 'yellow'
                                    WHEN score IS NOT NULL THEN 'green' END,
                       'bands', jsonb_build_object('red', banded.red, 'yellow', banded.yellow),
                       'segment_weights', scored.segment_key,
                       'segment_bands', banded.segment_key,
                       'components', detail)
            FROM scored JOIN banded ON banded.account_id = scored.account_id
        """

    def aggregate_sql(self, params: dict) -> str:
        # Per group: the mean of the account scores (Σ scores / scored accounts), and the accounts per band.
        bands = ", ".join(f"'{band}', count(value) FILTER (WHERE details ->> 'band' = '{band}')" for band in BANDS)
        return f"""
            SELECT {GROUP_COLUMNS}, sum(value) / nullif(count(value), 0), coalesce(sum(value), 0), count(value),
                   count(value), jsonb_build_object('bands', jsonb_build_object({bands}))
            FROM members
            {by_group()}
        """

    def merge_aggregate(self, stored: Aggregate, added: Aggregate, removed: Aggregate, *, as_of: date,
                        params: dict) -> Aggregate:
        # Σ scores / scored accounts, and the accounts per band: all sums.
        return merged_ratio(stored, added, removed, scale=1.0,
                            details=merged_counts(stored.details or {}, added.details or {}, removed.details or {}))


@register
class FeedbackSentiment(Calculator):
    id = "feedback.sentiment"
    name = "Feedback sentiment"
    scale = 100.0
    params = {"window_days": Param(int, default=90, minimum=1, maximum=730,
                                   help="Days of survey answers, ending on the as-of date.")}
    formula = ("Feedback sentiment = the mean VADER compound sentiment (-1 to 1) of the survey comments (NPS, CSAT "
               "and CES) answered in the last window_days days, x 100: from -100 (all negative) to 100. Answers "
               "without a comment, or not yet scored, are left out. Segment and portfolio: the mean over all their "
               "comments.")

    def account_sql(self, params: dict) -> str:
        return f"""
            SELECT a.id, sum(s.sentiment), count(*), count(*), NULL,
                   jsonb_build_object('positive', count(*) FILTER (WHERE s.sentiment >= 0.05),
                                      'neutral', count(*) FILTER (WHERE s.sentiment > -0.05 AND s.sentiment < 0.05),
                                      'negative', count(*) FILTER (WHERE s.sentiment <= -0.05))
            FROM accounts_account a
            JOIN accounts_surveyresponse s ON s.account_id = a.id
            WHERE s.sentiment IS NOT NULL
              AND s.responded_at >= (%(as_of)s::date - (%(window_days)s - 1))::timestamp AT TIME ZONE %(tz)s
              AND s.responded_at < (%(as_of)s::date + 1)::timestamp AT TIME ZONE %(tz)s
              AND {ACCOUNTS_FILTER} AND {accounts_filter("s.account_id")}
            GROUP BY a.id
        """
