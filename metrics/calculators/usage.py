"""Usage KPIs from usage events and their daily rollups (see docs/metrics.md, Usage).

Every window of n days ends on the as-of date t inclusive (days t-n+1 .. t). The rollups (UsageDaily per
account, day and event; UserDaily per account, day and user) are already counted in tenant-local days, so
their `day` compares with t directly; only feature adoption reads raw events, with the tenant's time zone.

Which accounts get a row: the window KPIs (adoption, breadth, stickiness, seats, trend) give one to every
account that had started by t (or has no start date), with a null value where the denominator is empty,
so a silent account shows as 0 % where 0 is true (breadth, seats) and as null where nothing is known.
Activation, time to first value and anomalies have their own populations, described on each class.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from metrics.calculators.base import (
    ACCOUNTS_FILTER,
    GROUP_COLUMNS,
    Aggregate,
    Calculator,
    CalculatorError,
    Param,
    accounts_filter,
    by_group,
    merged_ratio,
    register,
)
from metrics.inputs import SharedInput


@dataclass(frozen=True)
class EventNames(Param):
    """A list of event names that must not be empty (a base `required` list could have no default)."""

    kind: type = list

    def clean(self, name: str, value: object) -> list[str]:
        names = super().clean(name, value)
        if not names:
            raise CalculatorError(f"Parameter {name!r} needs at least one event name: {self.help}")
        return list(dict.fromkeys(names))  # a name listed twice is one event, not two


def window(default: int) -> Param:
    return Param(int, default=default, minimum=1, maximum=730, help="Days ending on the as-of date, t included.")


ACTIVATION_EVENTS = ["report_created", "integration_connected", "workflow_created"]
VALUE_EVENT = "report_created"
CORE_FEATURE = "report_created"
CORE_FEATURES = ["dashboard_viewed", "report_created", "report_exported", "alert_configured",
                 "integration_connected", "workflow_created"]

# Accounts that are customers on t: started on or before it, or with no start date recorded.
_STARTED = f"{ACCOUNTS_FILTER} AND (a.start_date IS NULL OR a.start_date <= %(as_of)s::date)"
_IN_WINDOW = "BETWEEN %(as_of)s::date - (%(window_days)s::int - 1) AND %(as_of)s::date"

# Each account's distinct active users of the window and their active days: one row per (account, user).
_ACTIVE_USERS = f"""
    SELECT u.account_id, u.user_id, count(*) AS days
    FROM accounts_userdaily u
    WHERE u.events > 0 AND u.day {_IN_WINDOW} AND {accounts_filter("u.account_id")}
    GROUP BY u.account_id, u.user_id
"""

# The same for every window of a run at once, shared by stickiness, seat utilisation and feature adoption
# (metrics.inputs): per (account, user) a bigint whose bit k is set when the user was active on t - k, over the
# longest window of the run. A bigint holds 63 days; a longer window reads the rollup itself (_ACTIVE_USERS).
ACTIVITY_BITS = 63
USER_ACTIVITY = SharedInput(name="user_activity", widens="activity_days", sql=f"""
    SELECT u.account_id, u.user_id, bit_or(1::bigint << (%(as_of)s::date - u.day)) AS active_on
    FROM accounts_userdaily u
    WHERE u.events > 0 AND u.day BETWEEN %(as_of)s::date - (%(activity_days)s::int - 1) AND %(as_of)s::date
      AND {accounts_filter("u.account_id")}
    GROUP BY u.account_id, u.user_id
""")


# Each account's events in the window and in the window before it, summed straight off the rollup. An input
# even with one reader: a statement that writes never gets parallel workers, a CREATE TABLE AS does, and this
# scan of two windows of the rollup is where the usage trend spends its time (224 ms in the writing statement,
# 103-137 ms on its own on 10,000 accounts).
ACCOUNT_EVENTS = SharedInput(name="account_events", sql=f"""
    SELECT d.account_id,
           sum(d.events) FILTER (WHERE d.day > %(as_of)s::date - %(window_days)s::int) AS recent,
           sum(d.events) FILTER (WHERE d.day <= %(as_of)s::date - %(window_days)s::int) AS earlier
    FROM accounts_usagedaily d
    WHERE d.day BETWEEN %(as_of)s::date - (2 * %(window_days)s::int - 1) AND %(as_of)s::date
      AND {accounts_filter("d.account_id")}
    GROUP BY d.account_id
""")


def active_users_inputs(params: dict) -> list[SharedInput]:
    """The shared input `active_users` reads, when the window fits it."""
    return [USER_ACTIVITY.sized(params["window_days"])] if params["window_days"] <= ACTIVITY_BITS else []


def active_users(params: dict) -> str:
    """A subquery of each account's active users in the window and their active days (account_id, user_id,
    days): from the run's shared activity when the window fits it, else from the rollup."""
    if params["window_days"] > ACTIVITY_BITS:
        return f"({_ACTIVE_USERS})"
    # ~(-1 << w): the w lowest bits, the days t - w + 1 .. t.
    window = "(~(-1::bigint << %(window_days)s::int))"
    return f"""(SELECT account_id, user_id, bit_count((active_on & {window})::bit(64)) AS days
                FROM {USER_ACTIVITY.placeholder} WHERE active_on & {window} <> 0)"""


@register
class ActivationRate(Calculator):
    """One row per cohort member (numerator 1 or 0, denominator 1); accounts still inside their activation
    window are censored: no row at all, so they are neither successes nor failures."""

    id = "usage.activation_rate"
    name = "Activation rate"
    scale = 100.0
    formula = ("Activation rate = accounts with an activation event (any of `events`) dated start <= day < "
               "start + window_days / accounts that started in the cohort_days ending on t and whose window "
               "has closed (start + window_days <= t). Accounts still inside their window are left out, not "
               "counted as failures. Days are the tenant's local days.")
    params = {
        "events": EventNames(default=ACTIVATION_EVENTS, help="The events that mean an account is activated."),
        "window_days": window(30),
        "cohort_days": Param(int, default=180, minimum=1, maximum=1830,
                             help="Accounts whose start date falls in these days ending on t form the cohort."),
    }

    def clean_params(self, raw: dict | None) -> dict:
        params = super().clean_params(raw)
        if params["window_days"] >= params["cohort_days"]:
            raise CalculatorError(
                f"window_days ({params['window_days']}) must be shorter than cohort_days "
                f"({params['cohort_days']}): otherwise no account in the cohort has a closed window.")
        return params

    def account_sql(self, params: dict) -> str:
        return f"""
            SELECT a.id, (activation.first_day IS NOT NULL)::int, 1, 1, NULL,
                   jsonb_build_object('start_date', a.start_date, 'activated_on', activation.first_day)
            FROM accounts_account a
            LEFT JOIN LATERAL (
                SELECT min(d.day) AS first_day
                FROM accounts_usagedaily d
                WHERE d.account_id = a.id AND d.event_name = ANY(%(events)s::text[]) AND d.events > 0
                  AND d.day >= a.start_date AND d.day < a.start_date + %(window_days)s::int
            ) activation ON true
            WHERE {ACCOUNTS_FILTER}
              AND a.start_date > %(as_of)s::date - %(cohort_days)s::int
              AND a.start_date + %(window_days)s::int <= %(as_of)s::date
        """


def kaplan_meier_median(observations: Iterable[tuple[int, bool]]) -> tuple[int | None, list[tuple[int, Fraction]]]:
    """The Kaplan-Meier median of (duration, observed) pairs and the survival curve at each event time."""
    median, curve = kaplan_meier_of_counts(Counter(observations).items())
    return median, [(duration, Fraction(surviving, at_start)) for duration, surviving, at_start in curve]


def kaplan_meier_of_counts(
        counts: Iterable[tuple[tuple[int, bool], int]]) -> tuple[int | None, list[tuple[int, int, int]]]:
    """The Kaplan-Meier median from how many accounts share each (duration, observed), and the survival curve
    as (event time, numerator, denominator) of S at that time.

    S(d) = product over event times d_j <= d of (1 - events_j / at_risk_j), where an account censored at
    d_j still counts as at risk at d_j. The median is the smallest event time with S(d) <= 1/2, None if
    the curve never gets there. S is kept as an exact product of integers (not reduced: reducing big
    fractions at every step is what costs), so a curve landing on 1/2 is not lost to rounding; counts (one
    entry per distinct duration, not per account) keep it cheap for a whole portfolio.
    """
    events_at: dict[int, int] = {}
    leaving_at: dict[int, int] = {}
    for (duration, observed), count in counts:
        leaving_at[duration] = leaving_at.get(duration, 0) + count
        events_at[duration] = events_at.get(duration, 0) + (count if observed else 0)
    at_risk = sum(leaving_at.values())
    surviving, at_start = 1, 1
    curve: list[tuple[int, int, int]] = []
    median = None
    for duration in sorted(leaving_at):
        events = events_at[duration]
        if events:
            surviving, at_start = surviving * (at_risk - events), at_start * at_risk
            curve.append((duration, surviving, at_start))
            if median is None and 2 * surviving <= at_start:
                median = duration
        at_risk -= leaving_at[duration]
    return median, curve


@register
class TimeToFirstValue(Calculator):
    """One row per account started on or before t. `details` holds what the Kaplan-Meier aggregate needs:
    {"duration": days, "observed": bool}, a censored account's duration being t - start."""

    id = "usage.time_to_first_value"
    name = "Time to first value"
    formula = ("Per account: whole days from the start date to the tenant-local day of the first `event` "
               "(null if not reached by t; an event before the start counts as day 0). Aggregate: the "
               "Kaplan-Meier median over all accounts started on or before t, an account without value "
               "censored at t - start: the smallest duration d with survival S(d) <= 0.5, null if the "
               "curve never gets there.")
    params = {"event": Param(str, default=VALUE_EVENT, help="The event that means the account got value.")}

    def account_sql(self, params: dict) -> str:
        return f"""
            SELECT a.id, reached.days, CASE WHEN reached.days IS NOT NULL THEN 1 END, 1, reached.days,
                   jsonb_build_object('duration', coalesce(reached.days, %(as_of)s::date - a.start_date),
                                      'observed', reached.days IS NOT NULL,
                                      'first_value_on', first_value.day)
            FROM accounts_account a
            LEFT JOIN LATERAL (
                SELECT min(d.day) AS day
                FROM accounts_usagedaily d
                WHERE d.account_id = a.id AND d.event_name = %(event)s AND d.events > 0
                  AND d.day <= %(as_of)s::date
            ) first_value ON true
            -- greatest() skips nulls, so the CASE keeps an account without value null, not 0.
            CROSS JOIN LATERAL (
                SELECT CASE WHEN first_value.day IS NOT NULL THEN greatest(first_value.day - a.start_date, 0) END
                           AS days
            ) reached
            WHERE {ACCOUNTS_FILTER} AND a.start_date <= %(as_of)s::date
        """

    def aggregate_sql(self, params: dict) -> str:
        # Per group: how many accounts share each (duration, observed), for the Kaplan-Meier estimate.
        return f"""
            SELECT dimension, segment, NULL, NULL, NULL, coalesce(sum(accounts), 0)::int,
                   coalesce(jsonb_agg(jsonb_build_array(duration, observed, accounts) ORDER BY duration, observed)
                            FILTER (WHERE accounts > 0), '[]'::jsonb)
            FROM (SELECT {GROUP_COLUMNS}, (details ->> 'duration')::int, (details ->> 'observed')::boolean,
                         count(details)
                  FROM members
                  {by_group("(details ->> 'duration')::int", "(details ->> 'observed')::boolean")}
                 ) AS counted (dimension, segment, duration, observed, accounts)
            GROUP BY dimension, segment
        """

    finishes_in_python = True

    def merge_aggregate(self, stored: Aggregate, added: Aggregate, removed: Aggregate, *, as_of: date,
                        params: dict) -> Aggregate | None:
        """The accounts per (duration, observed) are counts: the stored group's (kept in its details), corrected,
        then the curve drawn again."""
        if stored.details is not None and "counts" not in stored.details:  # stored before its counts were kept
            return None
        counts = Counter({(duration, seen): accounts
                          for duration, seen, accounts in (stored.details or {}).get("counts", [])})
        for sign, part in ((1, added), (-1, removed)):
            for duration, seen, accounts in part.details or []:
                counts[(duration, seen)] += sign * accounts
        if any(accounts < 0 for accounts in counts.values()):
            return None
        return self.finish_aggregate(Aggregate(
            value=None, sample_size=stored.sample_size + added.sample_size - removed.sample_size,
            details=[[duration, seen, accounts] for (duration, seen), accounts in counts.items() if accounts]),
            as_of=as_of, params=params)

    def finish_aggregate(self, aggregate: Aggregate, *, as_of: date, params: dict) -> Aggregate:
        counts = [((duration, observed), accounts) for duration, observed, accounts in aggregate.details]
        median, curve = kaplan_meier_of_counts(counts)
        observed = sum(accounts for (_, seen), accounts in counts if seen)
        return Aggregate(
            value=None if median is None else float(median), sample_size=aggregate.sample_size,
            details={"observed": observed, "censored": aggregate.sample_size - observed,
                     # what the curve is made of: an incremental run corrects these counts (merge_aggregate)
                     "counts": sorted([int(duration), bool(seen), int(accounts)]
                                      for duration, seen, accounts in aggregate.details),
                     # int / int is correctly rounded, as float(Fraction) is
                     "survival": [[duration, round(surviving / at_start, 6)]
                                  for duration, surviving, at_start in curve]},
        )


@register
class FeatureAdoption(Calculator):
    id = "usage.feature_adoption"
    name = "Feature adoption"
    scale = 100.0
    formula = ("Feature adoption = distinct active users who used `feature` in the last window_days days / "
               "distinct active users in those days, as a percentage; null when the account had no "
               "active user. Days are the tenant's local days.")
    params = {"feature": Param(str, default=CORE_FEATURE, help="The event name of the feature."),
              "window_days": window(30)}

    def account_sql(self, params: dict) -> str:
        # Who used the feature over several days can only come from raw events: UserDaily has no event
        # name, and UsageDaily.distinct_users is per day, so it cannot be summed across days. The scan is
        # bounded by the window on the (account, occurred_at) index. Feature users are then matched to
        # the UserDaily active users, so the numerator is always a subset of the denominator (and of
        # the active users seat utilisation counts), even while a rollup refresh is catching up.
        return f"""
            WITH active AS (
                SELECT account_id, user_id FROM {active_users(params)} active
            )
            SELECT a.id, count(feature.user_id), count(active.user_id), count(active.user_id), NULL, NULL
            FROM accounts_account a
            LEFT JOIN active ON active.account_id = a.id
            LEFT JOIN {FEATURE_USERS.placeholder} feature
                   ON feature.account_id = active.account_id AND feature.user_id = active.user_id
            WHERE {_STARTED}
            GROUP BY a.id
        """

    def inputs(self, params: dict) -> list[SharedInput]:
        return [*active_users_inputs(params), FEATURE_USERS]


# Who used a feature in the window, from raw events: an input for the parallel scan of the events (see
# metrics.inputs), shared by feature-adoption KPIs of the same feature and window.
FEATURE_USERS = SharedInput(name="feature_users", sql=f"""
    SELECT DISTINCT e.account_id, e.user_id
    FROM accounts_usageevent e JOIN accounts_account a ON a.id = e.account_id
    WHERE {ACCOUNTS_FILTER} AND e.event_name = %(feature)s
      AND e.occurred_at >= (%(as_of)s::date - (%(window_days)s::int - 1))::timestamp AT TIME ZONE %(tz)s
      AND e.occurred_at < (%(as_of)s::date + 1)::timestamp AT TIME ZONE %(tz)s
""")


@register
class Breadth(Calculator):
    id = "usage.breadth"
    name = "Adoption breadth"
    scale = 100.0
    formula = ("Breadth = distinct core features (`features`) used in the last window_days days / core "
               "features defined, as a percentage. Aggregate: Σ features used / Σ features defined, the "
               "mean breadth of the accounts.")
    params = {"features": EventNames(default=CORE_FEATURES, help="The event names of the core features."),
              "window_days": window(30)}

    def account_sql(self, params: dict) -> str:
        return f"""
            SELECT a.id, count(DISTINCT d.event_name), cardinality(%(features)s::text[]), 1, NULL,
                   jsonb_build_object('used', coalesce(jsonb_agg(DISTINCT d.event_name)
                                                       FILTER (WHERE d.event_name IS NOT NULL), '[]'::jsonb))
            FROM accounts_account a
            LEFT JOIN accounts_usagedaily d
                   ON d.account_id = a.id AND d.event_name = ANY(%(features)s::text[]) AND d.events > 0
                  AND d.day {_IN_WINDOW} AND {accounts_filter("d.account_id")}
            WHERE {_STARTED}
            GROUP BY a.id
        """


@register
class Stickiness(Calculator):
    id = "usage.stickiness"
    name = "Stickiness"
    scale = 100.0
    formula = ("Stickiness = mean daily active users over the last window_days days (Σ daily active users "
               "/ window_days, every day of the window counted, days without activity as 0) / distinct "
               "active users over the same days, as a percentage; null when nobody was active.")
    params = {"window_days": window(28)}

    def account_sql(self, params: dict) -> str:
        # Each active user's active days first (one hash aggregate), then per account: no count(DISTINCT) sort.
        return f"""
            SELECT a.id, coalesce(sum(active.days), 0)::float8 / %(window_days)s::int, count(active.user_id),
                   count(active.user_id), NULL, jsonb_build_object('user_days', coalesce(sum(active.days), 0)::bigint)
            FROM accounts_account a
            LEFT JOIN {active_users(params)} active ON active.account_id = a.id
            WHERE {_STARTED}
            GROUP BY a.id
        """

    def inputs(self, params: dict) -> list[SharedInput]:
        return active_users_inputs(params)


@register
class SeatUtilization(Calculator):
    id = "usage.seat_utilization"
    name = "Seat utilisation"
    scale = 100.0
    formula = ("Seat utilisation = distinct active users in the last window_days days / licensed seats, as "
               "a percentage (above 100 when more people use it than are licensed); null when the seats "
               "are unknown or 0, and such accounts stay out of the aggregate.")
    params = {"window_days": window(30)}

    def account_sql(self, params: dict) -> str:
        # Without seats the numerator is null too: the default aggregate sums numerators and denominators
        # separately, and users with no seats to set them against would inflate the portfolio.
        return f"""
            SELECT a.id, CASE WHEN a.licensed_seats > 0 THEN count(active.user_id) END,
                   NULLIF(a.licensed_seats, 0), (a.licensed_seats > 0)::int, NULL,
                   jsonb_build_object('active_users', count(active.user_id), 'licensed_seats', a.licensed_seats)
            FROM accounts_account a
            LEFT JOIN {active_users(params)} active ON active.account_id = a.id
            WHERE {_STARTED}
            GROUP BY a.id
        """

    def inputs(self, params: dict) -> list[SharedInput]:
        return active_users_inputs(params)


@register
class UsageTrend(Calculator):
    id = "usage.trend"
    name = "Usage trend"
    scale = 100.0
    formula = ("Usage trend = (events in the last window_days days - events in the window_days days before) "
               "/ events in the window_days days before, as a percentage; null when the window before had no "
               "events. Aggregate: the change in the accounts' total events over the total before.")
    params = {"window_days": window(30)}

    def inputs(self, params: dict) -> list[SharedInput]:
        return [ACCOUNT_EVENTS]

    def account_sql(self, params: dict) -> str:
        return f"""
            SELECT account_id, recent - earlier, earlier, (recent + earlier > 0)::int, NULL,
                   jsonb_build_object('events', recent, 'events_before', earlier)
            FROM (
                SELECT a.id AS account_id, coalesce(d.recent, 0) AS recent, coalesce(d.earlier, 0) AS earlier
                FROM accounts_account a
                LEFT JOIN {ACCOUNT_EVENTS.placeholder} d ON d.account_id = a.id
                WHERE {_STARTED}
            ) windows
        """


@register
class UsageAnomaly(Calculator):
    """Accounts with a full history (started on or before t - window_days, or no start date) and at least
    one event in the history or on t; an account silent throughout has nothing to depart from."""

    id = "usage.anomaly"
    name = "Usage anomalies"
    formula = ("Per account: the robust z-score of the events on t against the daily events of the "
               "window_days days before (days without events count as 0): 0.6745 x (x - median) / MAD. When "
               "the MAD is 0, (x - median) / (1.2533 x mean absolute deviation from the median); when that is "
               "0 too, 0 if x equals the median, else null (undecidable). Anomalous when |z| > threshold. "
               "Aggregate: anomalous accounts / accounts with a score, as a percentage.")
    params = {
        "window_days": Param(int, default=28, minimum=7, maximum=365, help="Days of history before t."),
        "threshold": Param(float, default=3.5, minimum=0.1, maximum=100,
                           help="|robust z| above which a day is anomalous."),
    }

    def account_sql(self, params: dict) -> str:
        return f"""
            WITH candidate AS (
                SELECT a.id AS account_id
                FROM accounts_account a
                WHERE {ACCOUNTS_FILTER}
                  AND (a.start_date IS NULL OR a.start_date <= %(as_of)s::date - %(window_days)s::int)
            ), daily AS (
                SELECT d.account_id, d.day, sum(d.events) AS events
                FROM accounts_usagedaily d JOIN candidate USING (account_id)
                WHERE d.day BETWEEN %(as_of)s::date - %(window_days)s::int AND %(as_of)s::date
                GROUP BY d.account_id, d.day
                HAVING sum(d.events) > 0
            ), history AS (
                SELECT c.account_id, coalesce(daily.events, 0) AS events
                FROM (SELECT DISTINCT account_id FROM daily) c
                CROSS JOIN generate_series(1, %(window_days)s::int) AS back(days)
                LEFT JOIN daily ON daily.account_id = c.account_id AND daily.day = %(as_of)s::date - back.days
            ), centre AS (
                SELECT account_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY events) AS median
                FROM history GROUP BY account_id
            ), spread AS (
                SELECT h.account_id, c.median,
                       percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(h.events - c.median)) AS mad,
                       avg(abs(h.events - c.median)) AS mean_ad
                FROM history h JOIN centre c USING (account_id)
                GROUP BY h.account_id, c.median
            ), scored AS (
                SELECT s.account_id, coalesce(today.events, 0) AS today, s.median, s.mad, s.mean_ad,
                       CASE WHEN s.mad > 0 THEN 0.6745 * (coalesce(today.events, 0) - s.median) / s.mad
                            WHEN s.mean_ad > 0 THEN (coalesce(today.events, 0) - s.median) / (1.253314 * s.mean_ad)
                            WHEN coalesce(today.events, 0) = s.median THEN 0
                       END AS z
                FROM spread s
                LEFT JOIN daily today ON today.account_id = s.account_id AND today.day = %(as_of)s::date
            )
            SELECT account_id,
                   CASE WHEN z IS NOT NULL THEN (abs(z) > %(threshold)s::float8)::int END,
                   CASE WHEN z IS NOT NULL THEN 1 END,
                   1, z,
                   jsonb_build_object('today', today, 'median', median, 'mad', mad, 'mean_ad', mean_ad,
                                      'anomalous', abs(z) > %(threshold)s::float8)
            FROM scored
        """

    def aggregate_sql(self, params: dict) -> str:
        # Per group: anomalous accounts / accounts with a score, as a percentage.
        return f"""
            SELECT {GROUP_COLUMNS},
                   100.0::float8 * count(value) FILTER (WHERE numerator <> 0) / nullif(count(value), 0),
                   count(value) FILTER (WHERE numerator <> 0), count(value), count(value), NULL::jsonb
            FROM members
            {by_group()}
        """

    def merge_aggregate(self, stored: Aggregate, added: Aggregate, removed: Aggregate, *, as_of: date,
                        params: dict) -> Aggregate:
        # Anomalous accounts and accounts with a score are counts.
        return merged_ratio(stored, added, removed, scale=100.0)
