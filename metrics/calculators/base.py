"""What every KPI calculator is: a registered id, a readable formula, validated parameters, ONE set-based
query that computes every account at once, and ONE query combining accounts into every segment and the
portfolio (by default the ratio of summed numerators and denominators)."""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar

from django.db import connection

from metrics.inputs import SharedInput, input_relation


class CalculatorError(Exception):
    """A calculator or its parameters cannot be used as given; the message says what to fix."""


@dataclass(frozen=True)
class Param:
    """One parameter of a calculator, with its type, default and bounds."""

    kind: type
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    help: str = ""
    required: bool = False

    def clean(self, name: str, value: Any) -> Any:
        if value is None:
            if self.required:
                raise CalculatorError(f"Parameter {name!r} is required: {self.help}")
            return self.default
        if self.kind is list:
            if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
                raise CalculatorError(f"Parameter {name!r} must be a list of non-empty strings.")
            if self.required and not value:
                raise CalculatorError(f"Parameter {name!r} needs at least one value: {self.help}")
            return [item.strip() for item in value]
        if self.kind is str:
            if not isinstance(value, str) or not value.strip():
                raise CalculatorError(f"Parameter {name!r} must be a non-empty string.")
            return value.strip()
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CalculatorError(f"Parameter {name!r} must be a number.")
        if self.kind is int and not float(value).is_integer():
            raise CalculatorError(f"Parameter {name!r} must be a whole number.")
        value = self.kind(value)
        if not math.isfinite(value):
            raise CalculatorError(f"Parameter {name!r} must be a finite number.")
        if self.minimum is not None and value < self.minimum:
            raise CalculatorError(f"Parameter {name!r} must be at least {self.minimum:g}.")
        if self.maximum is not None and value > self.maximum:
            raise CalculatorError(f"Parameter {name!r} must be at most {self.maximum:g}.")
        return value


@dataclass
class AccountValue:
    """A calculator's result for one account; `details` carries what an aggregate or an explanation needs."""

    account_id: int
    value: float | None
    numerator: float | None = None
    denominator: float | None = None
    sample_size: int = 0
    details: dict | None = None


@dataclass
class Aggregate:
    value: float | None
    numerator: float | None = None
    denominator: float | None = None
    sample_size: int = 0
    details: dict | None = field(default=None)


REGISTRY: dict[str, type[Calculator]] = {}


def register(calculator: type[Calculator]) -> type[Calculator]:
    if calculator.id in REGISTRY:
        raise CalculatorError(f"Calculator {calculator.id!r} is registered twice.")
    REGISTRY[calculator.id] = calculator
    return calculator


def calculator_for(calculator_id: str) -> Calculator:
    try:
        return REGISTRY[calculator_id]()
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise CalculatorError(f"Unknown calculator {calculator_id!r}; known: {known}.") from None


def ratio(numerator: float | None, denominator: float | None, scale: float = 1.0) -> float | None:
    """numerator / denominator x scale, or None (never 0) when the denominator is empty or zero."""
    if numerator is None or not denominator:
        return None
    return scale * numerator / denominator


class Calculator(ABC):
    """Subclass, set the class attributes, write `account_sql`, and decorate with @register.

    `account_sql` returns one query over all accounts (restricted to `%(account_ids)s` when it is not
    NULL) selecting: account_id, numerator, denominator, sample_size, value, details (jsonb or NULL).
    Where `value` is NULL and `scale` is set, the value is numerator / denominator x scale. It may read the
    `inputs` it shares with other calculators by their placeholders (see metrics.inputs).
    """

    id: ClassVar[str]
    name: ClassVar[str]
    formula: ClassVar[str]
    params: ClassVar[dict[str, Param]] = {}
    scale: ClassVar[float | None] = None
    # KPIs whose stored values this calculator reads (health score); computed before it.
    depends_on_kpis: ClassVar[bool] = False
    # Whether `finish_aggregate` completes in Python what `aggregate_sql` summed.
    finishes_in_python: ClassVar[bool] = False
    # Whether one account's own value means something to a person. A rate of accounts (logo churn: the share
    # of customers who left) is 0 or 100% for one account: stored to explain the aggregate, not shown per account.
    per_account: ClassVar[bool] = True

    def clean_params(self, raw: dict | None) -> dict:
        if raw is not None and not isinstance(raw, dict):
            raise CalculatorError(f"The parameters of {self.id} are a JSON object of name: value, "
                                  f"not {type(raw).__name__}.")
        raw = dict(raw or {})
        unknown = sorted(set(raw) - set(self.params))
        if unknown:
            raise CalculatorError(f"Unknown parameter(s) {', '.join(unknown)} for {self.id}; "
                                  f"known: {', '.join(self.params) or 'none'}.")
        return {name: spec.clean(name, raw.get(name)) for name, spec in self.params.items()}

    @abstractmethod
    def account_sql(self, params: dict) -> str:
        """The one query computing every account (see the class docstring for its columns)."""

    def inputs(self, params: dict) -> list[SharedInput]:
        """What `account_sql` reads that other calculators read too: computed once per run (metrics.inputs)."""
        return []

    def shares(self, params: dict) -> set[str]:
        """What this KPI's computation makes once for a run and other KPIs read too (its inputs, by name): a run
        computes the KPIs sharing anything on one connection, where it was made (metrics.services)."""
        return {shared.name for shared in self.inputs(params)}

    def account_query(self, params: dict, params_sql: dict) -> tuple[str, dict]:
        """`account_sql` with its shared inputs resolved, and the statement's parameters with what they add."""
        sql = self.account_sql(params)
        for shared in self.inputs(params):
            relation, params_sql = input_relation(shared, params_sql)
            sql = sql.replace(shared.placeholder, relation)
        return sql, params_sql

    def sql_params(self, *, as_of: date, params: dict, account_ids: Sequence[int] | None) -> dict:
        """The query's parameters: the KPI's, the date, the accounts, and `tz`, the tenant's time zone, in
        which every window of days is counted."""
        from accounts.services import tenant_time_zone

        return {**params, "as_of": as_of, "account_ids": list(account_ids) if account_ids is not None else None,
                "tz": tenant_time_zone()}

    def account_values(self, *, as_of: date, params: dict,
                       account_ids: Sequence[int] | None = None) -> list[AccountValue]:
        """Every account's value in one query."""
        with connection.cursor() as cursor:
            cursor.execute(*self.account_query(params, self.sql_params(as_of=as_of, params=params,
                                                                        account_ids=account_ids)))
            rows = cursor.fetchall()
        values = []
        for account_id, numerator, denominator, sample_size, value, details in rows:
            numerator = None if numerator is None else float(numerator)
            denominator = None if denominator is None else float(denominator)
            if value is None and self.scale is not None:
                value = ratio(numerator, denominator, self.scale)
            if isinstance(details, str):  # Django's connection hands jsonb back as text
                details = json.loads(details)
            values.append(AccountValue(account_id=account_id, value=None if value is None else float(value),
                                       numerator=numerator, denominator=denominator,
                                       sample_size=int(sample_size or 0), details=details))
        return values

    def aggregate_sql(self, params: dict) -> str:
        """One query combining the accounts of every segment and the portfolio (see `AGGREGATE_COLUMNS`).

        Default: Σ numerators / Σ denominators x scale (null when Σ denominators is 0); an account without a
        denominator (nothing to divide by) contributes to neither side, only to the sample size.
        """
        return RATIO_AGGREGATE

    @property
    def merges_aggregates(self) -> bool:
        """Whether an incremental run may correct the stored aggregates by the touched accounts' contributions
        (`merge_aggregate`) instead of reading every account again: the default ratio does, and a calculator with
        an aggregate of its own when it says how."""
        return (type(self).aggregate_sql is Calculator.aggregate_sql
                or type(self).merge_aggregate is not Calculator.merge_aggregate)

    def merge_aggregate(self, stored: Aggregate, added: Aggregate, removed: Aggregate, *, as_of: date,
                        params: dict) -> Aggregate | None:
        """A group's aggregate after an incremental run, from the stored one, what `aggregate_sql` gives over the
        touched accounts' new rows (`added`) and over their old ones (`removed`), all in the same segments.
        Exact for aggregates that are sums; None (read every account again) for one that is not, such as a
        median. Default: the ratio of summed numerators and denominators."""
        if not self.merges_aggregates:  # an aggregate of its own, with no merge of its own
            return None
        return merged_ratio(stored, added, removed, scale=self.scale or 1.0)

    def finish_aggregate(self, aggregate: Aggregate, *, as_of: date, params: dict) -> Aggregate:
        """Where `finishes_in_python`: turn what `aggregate_sql` summed into the group's value (exact arithmetic
        SQL has no aggregate for, such as Kaplan-Meier's products of fractions)."""
        raise NotImplementedError(f"{self.id} aggregates in SQL only.")


def accounts_filter(column: str) -> str:
    """Restricts `column` (an account id) to `%(account_ids)s` when that is not NULL. Repeat it inside a subquery
    that groups rows before the join to the accounts: the planner does not carry `= ANY(...)` across a join."""
    return f"(%(account_ids)s::bigint[] IS NULL OR {column} = ANY(%(account_ids)s::bigint[]))"


# The account filter every account_sql uses, on accounts_account `a`.
ACCOUNTS_FILTER = accounts_filter("a.id")

# What an `aggregate_sql` reads: `members`, the stored account rows of the KPI and date with the account's segment
# in every dimension (columns: the DIMENSIONS, account_id, value, numerator, denominator, sample_size, details),
# plus one member whose columns are all NULL, so the portfolio has a row even with no account: aggregates count
# columns, never rows. It groups with `by_group()` and returns: GROUP_COLUMNS (dimension, segment; '' and ''
# for the portfolio), value, numerator, denominator, sample_size, details (jsonb).
AGGREGATE_COLUMNS = ("dimension", "segment", "value", "numerator", "denominator", "sample_size", "details")
DIMENSIONS = ("plan", "region", "industry", "lifecycle_stage", "size_band", "owner")

# In each grouping set all dimensions but one (or all, for the portfolio) are grouped away and read NULL.
GROUP_COLUMNS = ("CASE " + " ".join(f"WHEN GROUPING({d}) = 0 THEN '{d}'" for d in DIMENSIONS) + " ELSE '' END, "
                 f"coalesce({', '.join(DIMENSIONS)}, '')")


def by_group(*also: str) -> str:
    """GROUP BY the portfolio and every segment of every dimension in one pass (grouping sets: each member is
    read once, not once per dimension), and `also` within each; the all-NULL member counts for the portfolio
    only (a real account is in a segment of every dimension)."""
    sets = ", ".join(["()", *(f"({d})" for d in DIMENSIONS)])
    return (f"GROUP BY {''.join(f'{column}, ' for column in also)}GROUPING SETS ({sets}) "
            f"HAVING GROUPING({', '.join(DIMENSIONS)}) = {2 ** len(DIMENSIONS) - 1} "
            f"OR coalesce({', '.join(DIMENSIONS)}) IS NOT NULL")


# Σ numerators (of accounts with a denominator) / Σ denominators x scale, per group.
RATIO_AGGREGATE = f"""
    SELECT {GROUP_COLUMNS},
           CASE WHEN coalesce(sum(denominator), 0) <> 0
                THEN %(scale)s::float8 * coalesce(sum(numerator) FILTER (WHERE denominator IS NOT NULL), 0)
                     / sum(denominator) END,
           coalesce(sum(numerator) FILTER (WHERE denominator IS NOT NULL), 0),
           coalesce(sum(denominator), 0), coalesce(sum(sample_size), 0), NULL::jsonb
    FROM members
    {by_group()}
"""


def merged_sum(stored: float | None, added: float | None, removed: float | None) -> float:
    """stored + added - removed, and 0 where that leaves only the rounding of float arithmetic (a group whose last
    contribution is taken out must read 0, not 1e-13)."""
    parts = (stored or 0.0, added or 0.0, -(removed or 0.0))
    total = math.fsum(parts)
    return 0.0 if abs(total) <= 1e-9 * max(abs(part) for part in parts) else total


def merged_ratio(stored: Aggregate, added: Aggregate, removed: Aggregate, *, scale: float,
                 details: dict | None = None) -> Aggregate:
    """Σ numerators / Σ denominators x scale of a group (null when Σ denominators is 0), the sums corrected by what
    the touched accounts add and no longer add; the sample size likewise."""
    numerator = merged_sum(stored.numerator, added.numerator, removed.numerator)
    denominator = merged_sum(stored.denominator, added.denominator, removed.denominator)
    return Aggregate(value=scale * numerator / denominator if denominator else None, numerator=numerator,
                     denominator=denominator, details=details,
                     sample_size=stored.sample_size + added.sample_size - removed.sample_size)


def merged_counts(stored: dict, added: dict, removed: dict) -> dict:
    """Counts kept in details ({"bands": {"red": 3, ...}}), nested as they are, corrected the same way."""
    merged = {}
    for key in stored.keys() | added.keys() | removed.keys():
        parts = [part.get(key, 0) for part in (stored, added, removed)]
        if any(isinstance(part, dict) for part in parts):
            merged[key] = merged_counts(*(part if isinstance(part, dict) else {} for part in parts))
        else:
            merged[key] = parts[0] + parts[1] - parts[2]
    return merged


def median_of_sorted(array: str) -> str:
    """SQL for the median of `array` (an expression of a float8[] sorted ascending), NULL when it is empty.

    Exactly as Python's statistics.median: the middle element, or (a + b) / 2 of the two middle ones in float8
    for an even count. percentile_cont(0.5) computes a + 0.5 x (b - a), which can differ in the last bit.
    """
    return f"""(CASE WHEN coalesce(cardinality({array}), 0) = 0 THEN NULL
                     WHEN mod(cardinality({array}), 2) = 1 THEN ({array})[cardinality({array}) / 2 + 1]
                     ELSE (({array})[cardinality({array}) / 2] + ({array})[cardinality({array}) / 2 + 1]) / 2
                END)"""
