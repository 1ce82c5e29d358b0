"""Features of every paying account on every observation date, computed set-based in one SQL statement.

Observation dates are the cutoff t and every STEP_DAYS before it: o_k = t - 30k. A feature of (account, o_k)
reads only data dated on or before o_k, so the same row is the same whether it is computed for scoring on o_k
or as history for a model trained later: that is what makes a back-test honest.

How it stays fast: each source table is read once and summed per account and 30-day bucket (bucket k holds the
days o_k - 29 .. o_k), and a window of 30, 90 or 180 days ending on o_k is then 1, 3 or 6 consecutive buckets
(window functions over a dense account x bucket frame). Distinct users and distinct core features do not add
up across buckets, so they are only ever taken over one bucket (30 days), where they are exact. Usage is read
only over the buckets its windows span; the last day of use before them and each account's first value and
activation day are index look-ups per account (measured on 10,000 accounts: scoring one date read 420 days of
usage and scanned all of it for first events, 18 s under load; docs/benchmarks.md).

What counts as "dated": usage rollup days, survey answer days and ticket days in the tenant's time zone; a
ticket's first response and resolution count from the day they happened (a ticket resolved after o_k is open
on o_k); a monthly revenue snapshot is dated on its month's first day, as for the revenue KPIs; an alert
breach counts as open on o when it opened before o and had not resolved by o. Account attributes (plan, region,
industry, seats, start and renewal dates) are the current ones: no history of them is kept (as for segments).

The result comes back as one bytea per column (float8send / int8send concatenated in row order), read by
numpy without building a Python object per value.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from django.db import connection

from core.db import psycopg_cursor
from metrics.prediction.spec import DEFAULT_HORIZON_DAYS, EXPANSION, RENEWAL_HORIZON_CAP, STEP_DAYS, Spec

# Buckets of history read before the oldest observation date: a year and a bit, for "days since" features.
LOOKBACK_BUCKETS = 13
# "Days since" features are capped here: longer ago (or never within reach) reads as this.
DAYS_CAP = LOOKBACK_BUCKETS * STEP_DAYS
# Buckets the longest usage window spans (180 days: the 90 days before the last 90): usage is summed over these
# only; further back, only the last day of use is looked up (prior_use). Distinct users: this bucket and the one
# before.
USAGE_WINDOW_BUCKETS = 6
CATEGORIES = ("plan", "region", "industry")
EPOCH = date(2000, 1, 1)


def _number(value: float) -> str:
    return f"{value:,.0f}"


def _change(noun: str, span: str) -> Callable[[float], str]:
    def phrase(value: float) -> str:
        change = 100 * value
        if abs(change) < 0.5:
            return f"{noun} flat over {span}"
        return f"{noun} {'up' if change > 0 else 'down'} {abs(change):.0f}% over {span}"
    return phrase


def _log_change(noun: str, span: str) -> Callable[[float], str]:
    return lambda value: _change(noun, span)(math.expm1(value))


# The latest NPS answer, only within DAYS_CAP days: how far back a frame reaches depends on its length, and a row
# must read the same whether it is scored on its own date or is history in a training frame ending later.
_RECENT_NPS = (f"(CASE WHEN o.o - (DATE '{EPOCH.isoformat()}' + w.last_nps[1]) <= {DAYS_CAP} "
               "THEN w.last_nps[2] END)")


@dataclass(frozen=True)
class Feature:
    """One model input: its SQL over the joined row, what it means, and how an account's value reads."""

    name: str
    label: str
    group: str
    sql: str
    description: str
    phrase: Callable[[float], str]


FEATURES: tuple[Feature, ...] = (
    Feature("events_30", "Usage, 30 days", "usage", "ln(1 + w.events_30)",
            "ln(1 + product events in the 30 days ending on the observation date).",
            lambda v: f"{_number(math.expm1(v))} events in 30 days"),
    Feature("events_90", "Usage, 90 days", "usage", "ln(1 + w.events_90)",
            "ln(1 + product events in the 90 days ending on the observation date).",
            lambda v: f"{_number(math.expm1(v))} events in 90 days"),
    Feature("usage_trend_30", "Usage trend, 30 days", "usage", "ln((1 + w.events_30) / (1 + w.events_30_before))",
            "ln((1 + events in the last 30 days) / (1 + events in the 30 days before)): 0 is flat, -0.69 halved.",
            _log_change("usage", "30 days")),
    Feature("usage_trend_90", "Usage trend, 90 days", "usage", "ln((1 + w.events_90) / (1 + w.events_90_before))",
            "ln((1 + events in the last 90 days) / (1 + events in the 90 days before)).",
            _log_change("usage", "90 days")),
    Feature("active_days_30", "Active days, 30 days", "usage", "w.active_days_30::float8",
            "Days with at least one event among the last 30.",
            lambda v: f"active on {v:.0f} of the last 30 days"),
    Feature("days_since_last_use", "Days since last use", "usage",
            f"least(coalesce(o.o - coalesce(w.last_use, pu.day), {DAYS_CAP}), {DAYS_CAP})::float8",
            f"Days since the last day with an event (capped at {DAYS_CAP}: none within reach).",
            lambda v: f"no use in over {DAYS_CAP} days" if v >= DAYS_CAP else f"last used {v:.0f} days ago"),
    Feature("active_users_30", "Active users, 30 days", "usage", "ln(1 + w.users_30)",
            "ln(1 + distinct active users in the last 30 days).",
            lambda v: f"{_number(math.expm1(v))} active users in 30 days"),
    Feature("users_trend_30", "Active users trend", "usage", "ln((1 + w.users_30) / (1 + w.users_30_before))",
            "ln((1 + active users in the last 30 days) / (1 + active users in the 30 days before)).",
            _log_change("active users", "30 days")),
    Feature("seat_utilisation", "Seat use", "usage", "w.users_30::float8 / nullif(o.licensed_seats, 0)",
            "Distinct active users in the last 30 days / licensed seats (missing without seats).",
            lambda v: f"{100 * v:.0f}% of seats used"),
    Feature("breadth_30", "Breadth of use", "usage",
            "bit_count(w.core_mask_30::bit(64))::float8 / nullif(cardinality(%(core_features)s::text[]), 0)",
            "Core features used in the last 30 days / core features defined.",
            lambda v: f"{100 * v:.0f}% of core features used"),
    Feature("key_feature_share_30", "Key feature use", "usage", "w.key_events_30::float8 / nullif(w.events_30, 0)",
            "Events of the key feature / all events, last 30 days (missing without events).",
            lambda v: f"{100 * v:.0f}% of use on the key feature"),
    Feature("activated", "Activation", "onboarding",
            """CASE WHEN o.start_date IS NULL THEN NULL
                    WHEN fe.first_activation < o.start_date + %(activation_days)s::int
                         AND fe.first_activation <= o.o THEN 1 ELSE 0 END::float8""",
            "1 when an activation event came within 30 days of the start (and by the observation date), else 0.",
            lambda v: "activated in its first 30 days" if v >= 0.5 else "not activated in its first 30 days"),
    Feature("value_reached", "First value", "onboarding", "coalesce(fe.first_value <= o.o, false)::int::float8",
            "1 when the value event has happened by the observation date, else 0.",
            lambda v: "reached first value" if v >= 0.5 else "has not reached first value"),
    Feature("days_to_first_value", "Time to first value", "onboarding",
            f"""least(CASE WHEN fe.first_value <= o.o THEN greatest(fe.first_value - o.start_date, 0)
                          ELSE o.o - o.start_date END, {DAYS_CAP})::float8""",
            "Days from the start to the first value event; without one yet, the days since the start (capped).",
            lambda v: f"{v:.0f} days to first value"),
    Feature("nps_last", "Last NPS answer", "surveys", f"{_RECENT_NPS}::float8",
            f"The latest NPS answer (0-10) of the last {DAYS_CAP} days (missing without one).",
            lambda v: f"last NPS answer {v:.0f}"),
    Feature("nps_detractor", "NPS detractor", "surveys", f"coalesce({_RECENT_NPS} <= 6, false)::int::float8",
            f"1 when the latest NPS answer of the last {DAYS_CAP} days is 0-6.",
            lambda v: "latest NPS answer from a detractor" if v >= 0.5 else "latest NPS answer not a detractor"),
    Feature("days_since_nps", "Days since NPS", "surveys",
            f"least(coalesce(o.o - (DATE '{EPOCH.isoformat()}' + w.last_nps[1]), {DAYS_CAP}), {DAYS_CAP})::float8",
            f"Days since the latest NPS answer (capped at {DAYS_CAP}).",
            lambda v: f"no NPS answer in {DAYS_CAP} days" if v >= DAYS_CAP else f"last NPS answer {v:.0f} days ago"),
    Feature("nps_mean_180", "NPS answers, 180 days", "surveys", "w.nps_sum_180::float8 / nullif(w.nps_n_180, 0)",
            "Mean NPS answer (0-10) over 180 days.",
            lambda v: f"NPS answers average {v:.1f} over 180 days"),
    Feature("csat_180", "CSAT, 180 days", "surveys", "w.csat_good_180::float8 / nullif(w.csat_n_180, 0)",
            "Share of CSAT answers of 4 or 5 over 180 days.",
            lambda v: f"{100 * v:.0f}% satisfied over 180 days"),
    Feature("ces_180", "Effort score, 180 days", "surveys", "w.ces_sum_180::float8 / nullif(w.ces_n_180, 0)",
            "Mean CES answer (1-7, 7 = very easy) over 180 days.",
            lambda v: f"effort score {v:.1f} of 7"),
    Feature("survey_answers_180", "Survey answers", "surveys", "(w.nps_n_180 + w.csat_n_180 + w.ces_n_180)::float8",
            "NPS, CSAT and CES answers over 180 days.",
            lambda v: f"{v:.0f} survey answers in 180 days"),
    Feature("tickets_90", "Tickets, 90 days", "support", "w.tickets_90::float8",
            "Support tickets opened in the last 90 days.",
            lambda v: f"{v:.0f} tickets in 90 days"),
    Feature("urgent_tickets_90", "Urgent tickets", "support", "w.urgent_90::float8",
            "High and urgent tickets opened in the last 90 days.",
            lambda v: f"{v:.0f} high or urgent tickets in 90 days"),
    Feature("open_tickets", "Unresolved tickets", "support", "coalesce(ot.open_tickets, 0)::float8",
            "Tickets opened by the observation date and not resolved by then.",
            lambda v: f"{v:.0f} unresolved tickets"),
    Feature("first_response_hours_90", "First response", "support",
            "w.response_hours_90 / nullif(w.responses_90, 0)",
            "Mean hours to first response of the tickets opened in the last 90 days that were answered by the end "
            "of the 30-day stretch (counted back from the observation date) they were opened in.",
            lambda v: f"first responses took {v:.0f} hours on average"),
    Feature("tenure_years", "Tenure", "account", "((o.o - o.start_date) / 365.25)::float8",
            "Years since the start date.",
            lambda v: f"customer for {v:.1f} years"),
    Feature("mrr_log", "MRR", "revenue", "ln(1 + o.mrr)",
            "ln(1 + MRR in force on the observation date).",
            lambda v: f"MRR {_number(math.expm1(v))}"),
    Feature("mrr_change_90", "MRR change, 90 days", "revenue", "(o.mrr - o.mrr_90) / nullif(o.mrr_90, 0)",
            "(MRR now - MRR 90 days before) / MRR 90 days before (missing when not paying then).",
            _change("MRR", "90 days")),
    Feature("mrr_change_365", "MRR change, a year", "revenue", "(o.mrr - o.mrr_365) / nullif(o.mrr_365, 0)",
            "(MRR now - MRR 365 days before) / MRR 365 days before.",
            _change("MRR", "a year")),
    Feature("seats_log", "Licensed seats", "account", "ln(1 + o.licensed_seats)",
            "ln(1 + licensed seats).",
            lambda v: f"{_number(math.expm1(v))} licensed seats"),
    Feature("days_to_renewal", "Days to renewal", "account",
            f"least(o.next_renewal - o.o, {RENEWAL_HORIZON_CAP})::float8",
            "Days from the observation date to the next renewal (renewals recur yearly on the renewal date), "
            f"capped at {RENEWAL_HORIZON_CAP}.",
            lambda v: f"renews in {v:.0f} days"),
    Feature("open_breaches", "Open alerts", "account", "coalesce(ob.open_breaches, 0)::float8",
            "Alert breaches of the account open on the observation date (predictive KPIs' own left out).",
            lambda v: f"{v:.0f} open alerts"),
)
FEATURE_NAMES = tuple(feature.name for feature in FEATURES)
BY_NAME = {feature.name: feature for feature in FEATURES}


def next_renewal_sql(renewal: str, day: str) -> str:
    """SQL for the first yearly anniversary of `renewal` after `day` (both date expressions)."""
    return f"""(CASE WHEN {renewal} > {day}
                     THEN {renewal} - make_interval(years => extract(year FROM age({renewal} - 1, {day}))::int)
                     ELSE {renewal} + make_interval(years => extract(year FROM age({day}, {renewal}))::int + 1)
                END)::date"""


def _mrr_on(alias: str, day: str) -> str:
    """Join the dense monthly MRR series as `alias` at the month of `day`."""
    return (f"LEFT JOIN mrr_monthly {alias} ON {alias}.account_id = acc.account_id "
            f"AND {alias}.month = date_trunc('month', ({day})::timestamp)::date")


_FRAME = f"""
accounts AS MATERIALIZED (
    SELECT a.id AS account_id, a.start_date, a.renewal_date, a.licensed_seats
    FROM accounts_account a
    WHERE (%(account_ids)s::bigint[] IS NULL OR a.id = ANY(%(account_ids)s::bigint[]))
      AND (a.start_date IS NULL OR a.start_date <= %(cutoff)s::date)
),
grid AS (
    SELECT k, (%(cutoff)s::date - %(step)s::int * k) AS o FROM generate_series(0, %(steps)s::int - 1) AS k
),
mrr_periods AS (
    SELECT r.account_id, r.month, r.mrr::float8 AS mrr,
           lead(r.month) OVER (PARTITION BY r.account_id ORDER BY r.month) AS next_month
    FROM accounts_revenuesnapshot r JOIN accounts acc ON acc.account_id = r.account_id
    WHERE r.month <= %(cutoff)s::date
),
mrr_monthly AS (
    -- From the month a year before the first observation date: no feature or label reads an earlier one.
    SELECT p.account_id, m::date AS month, p.mrr
    FROM mrr_periods p
    CROSS JOIN LATERAL generate_series(greatest(p.month::timestamp, date_trunc('month', (
                                           %(cutoff)s::date - %(step)s::int * (%(steps)s::int - 1) - 365)::timestamp)),
                                       coalesce(p.next_month::timestamp - interval '1 month',
                                                date_trunc('month', %(cutoff)s::timestamp)),
                                       interval '1 month') AS m
),
observed AS (
    SELECT acc.account_id, g.k, g.o, acc.start_date, acc.licensed_seats, now_.mrr, before_90.mrr AS mrr_90,
           before_365.mrr AS mrr_365,
           CASE WHEN acc.renewal_date IS NOT NULL THEN {next_renewal_sql("acc.renewal_date", "g.o")} END
               AS next_renewal
    FROM accounts acc CROSS JOIN grid g
    {_mrr_on("now_", "g.o")}
    {_mrr_on("before_90", "g.o - 90")}
    {_mrr_on("before_365", "g.o - 365")}
    WHERE now_.mrr > 0 AND (acc.start_date IS NULL OR acc.start_date <= g.o)
),
usage_buckets AS (
    -- Each account's use per 30-day bucket, straight from the daily rows: a day's bit in a mask of the bucket's 30
    -- days counts the active days. (Grouping by account and day first made ten million groups at 100,000
    -- accounts, which spilled a gigabyte to disk, for one date to score.)
    SELECT d.account_id, (%(cutoff)s::date - d.day) / %(step)s::int AS k, sum(d.events) AS events,
           coalesce(sum(d.events) FILTER (WHERE d.event_name = %(key_feature)s), 0) AS key_events,
           bit_or(CASE WHEN array_position(%(core_features)s::text[], d.event_name::text) IS NOT NULL
                       THEN 1::bigint << (array_position(%(core_features)s::text[], d.event_name::text) - 1)
                       ELSE 0 END) AS core_mask,
           bit_count(bit_or(1::bigint << ((%(cutoff)s::date - d.day) %% %(step)s::int))::bit(64)) AS active_days,
           max(d.day) AS last_day
    FROM accounts_usagedaily d
    WHERE d.day <= %(cutoff)s::date AND d.day > %(cutoff)s::date - %(step)s::int * %(usage_buckets)s::int
      AND d.events > 0 AND (%(account_ids)s::bigint[] IS NULL OR d.account_id = ANY(%(account_ids)s::bigint[]))
    GROUP BY 1, 2
),
user_buckets AS (
    SELECT account_id, k, count(*) AS users
    FROM (SELECT u.account_id, (%(cutoff)s::date - u.day) / %(step)s::int AS k, u.user_id
          FROM accounts_userdaily u
          WHERE u.day <= %(cutoff)s::date AND u.day > %(cutoff)s::date - %(step)s::int * %(user_buckets)s::int
            AND (%(account_ids)s::bigint[] IS NULL OR u.account_id = ANY(%(account_ids)s::bigint[]))
            AND u.events > 0
          GROUP BY 1, 2, 3) per_user
    GROUP BY 1, 2
),
surveys AS (
    SELECT s.account_id, s.kind, s.score, (s.responded_at AT TIME ZONE %(tz)s)::date AS day
    FROM accounts_surveyresponse s JOIN accounts acc ON acc.account_id = s.account_id
    WHERE s.responded_at < (%(cutoff)s::date + 1)::timestamp AT TIME ZONE %(tz)s
      AND s.responded_at >= (%(cutoff)s::date - %(step)s::int * %(buckets)s::int + 1)::timestamp AT TIME ZONE %(tz)s
),
survey_buckets AS (
    SELECT account_id, (%(cutoff)s::date - day) / %(step)s::int AS k,
           max(ARRAY[day - DATE '{EPOCH.isoformat()}', score::int]) FILTER (WHERE kind = 'nps') AS last_nps,
           sum(score) FILTER (WHERE kind = 'nps') AS nps_sum, count(*) FILTER (WHERE kind = 'nps') AS nps_n,
           count(*) FILTER (WHERE kind = 'csat' AND score >= 4) AS csat_good,
           count(*) FILTER (WHERE kind = 'csat') AS csat_n,
           sum(score) FILTER (WHERE kind = 'ces') AS ces_sum, count(*) FILTER (WHERE kind = 'ces') AS ces_n
    FROM surveys GROUP BY 1, 2
),
tickets AS (
    SELECT t.account_id, t.priority, (t.opened_at AT TIME ZONE %(tz)s)::date AS opened_day,
           (t.resolved_at AT TIME ZONE %(tz)s)::date AS resolved_day,
           (t.first_response_at AT TIME ZONE %(tz)s)::date AS response_day,
           extract(epoch FROM t.first_response_at - t.opened_at)::float8 / 3600 AS response_hours
    FROM accounts_supportticket t JOIN accounts acc ON acc.account_id = t.account_id
    WHERE t.opened_at < (%(cutoff)s::date + 1)::timestamp AT TIME ZONE %(tz)s
),
ticket_buckets AS (
    SELECT account_id, k, count(*) AS opened, count(*) FILTER (WHERE priority IN ('high', 'urgent')) AS urgent,
           sum(response_hours) FILTER (WHERE response_day <= %(cutoff)s::date - %(step)s::int * k) AS response_hours,
           count(*) FILTER (WHERE response_day <= %(cutoff)s::date - %(step)s::int * k) AS responses
    FROM (SELECT *, (%(cutoff)s::date - opened_day) / %(step)s::int AS k FROM tickets
          WHERE opened_day > %(cutoff)s::date - %(step)s::int * %(buckets)s::int) bucketed
    GROUP BY 1, 2
),
open_tickets AS MATERIALIZED (
    -- open on o_k when opened_day <= o_k < resolved_day: k from just after the resolution's bucket to the opening's
    SELECT account_id, k, count(*) AS open_tickets
    FROM tickets
    CROSS JOIN LATERAL generate_series(
        CASE WHEN resolved_day IS NULL OR resolved_day > %(cutoff)s::date THEN 0
             ELSE (%(cutoff)s::date - resolved_day) / %(step)s::int + 1 END,
        least((%(cutoff)s::date - opened_day) / %(step)s::int, %(steps)s::int - 1)) AS k
    GROUP BY 1, 2
),
open_breaches AS MATERIALIZED (
    -- open on o when opened_as_of < o <= resolved_as_of (or unresolved)
    SELECT b.account_id, k, count(*) AS open_breaches
    FROM metrics_breach b
    JOIN accounts acc ON acc.account_id = b.account_id
    JOIN metrics_kpi kpi ON kpi.id = b.kpi_id AND kpi.calculator NOT LIKE 'prediction.%%'
    CROSS JOIN LATERAL generate_series(
        CASE WHEN b.resolved_as_of IS NULL OR b.resolved_as_of > %(cutoff)s::date THEN 0
             ELSE (%(cutoff)s::date - b.resolved_as_of + %(step)s::int - 1) / %(step)s::int END,
        least((%(cutoff)s::date - b.opened_as_of - 1) / %(step)s::int, %(steps)s::int - 1)) AS k
    WHERE b.opened_as_of < %(cutoff)s::date
    GROUP BY 1, 2
),
first_events AS MATERIALIZED (
    -- one index look-up per account (usage_daily_unique is ordered by account and day), not a scan of all usage
    SELECT acc.account_id,
           (SELECT min(d.day) FROM accounts_usagedaily d
            WHERE d.account_id = acc.account_id AND d.event_name = %(value_event)s AND d.day <= %(cutoff)s::date
              AND d.events > 0) AS first_value,
           (SELECT min(d.day) FROM accounts_usagedaily d
            WHERE d.account_id = acc.account_id AND d.event_name = ANY(%(activation_events)s::text[])
              AND d.day <= %(cutoff)s::date AND d.events > 0) AS first_activation
    FROM accounts acc
),
prior_use AS MATERIALIZED (
    -- the last day of use before the usage buckets, within reach: "days since last use" of an account silent
    -- through every bucket, without reading a year of usage for the others
    SELECT acc.account_id,
           (SELECT max(d.day) FROM accounts_usagedaily d
            WHERE d.account_id = acc.account_id AND d.events > 0
              AND d.day <= %(cutoff)s::date - %(step)s::int * %(usage_buckets)s::int
              AND d.day > %(cutoff)s::date - %(step)s::int * %(buckets)s::int) AS day
    FROM accounts acc
),
frame AS (
    SELECT acc.account_id, b.k, coalesce(ub.events, 0) AS events, coalesce(ub.key_events, 0) AS key_events,
           coalesce(ub.core_mask, 0) AS core_mask, coalesce(ub.active_days, 0) AS active_days, ub.last_day,
           coalesce(us.users, 0) AS users, sb.last_nps, coalesce(sb.nps_sum, 0) AS nps_sum,
           coalesce(sb.nps_n, 0) AS nps_n, coalesce(sb.csat_good, 0) AS csat_good, coalesce(sb.csat_n, 0) AS csat_n,
           coalesce(sb.ces_sum, 0) AS ces_sum, coalesce(sb.ces_n, 0) AS ces_n, coalesce(tb.opened, 0) AS tickets,
           coalesce(tb.urgent, 0) AS urgent, coalesce(tb.response_hours, 0) AS response_hours,
           coalesce(tb.responses, 0) AS responses
    FROM accounts acc
    CROSS JOIN generate_series(0, %(buckets)s::int - 1) AS b(k)
    LEFT JOIN usage_buckets ub ON ub.account_id = acc.account_id AND ub.k = b.k
    LEFT JOIN user_buckets us ON us.account_id = acc.account_id AND us.k = b.k
    LEFT JOIN survey_buckets sb ON sb.account_id = acc.account_id AND sb.k = b.k
    LEFT JOIN ticket_buckets tb ON tb.account_id = acc.account_id AND tb.k = b.k
),
windowed AS MATERIALIZED (
    SELECT account_id, k,
           events AS events_30, sum(events) OVER (w ROWS BETWEEN 1 FOLLOWING AND 1 FOLLOWING) AS events_30_before,
           sum(events) OVER (w ROWS BETWEEN CURRENT ROW AND 2 FOLLOWING) AS events_90,
           sum(events) OVER (w ROWS BETWEEN 3 FOLLOWING AND 5 FOLLOWING) AS events_90_before,
           key_events AS key_events_30, core_mask AS core_mask_30, active_days AS active_days_30,
           max(last_day) OVER (w ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS last_use,
           users AS users_30, sum(users) OVER (w ROWS BETWEEN 1 FOLLOWING AND 1 FOLLOWING) AS users_30_before,
           max(last_nps) OVER (w ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS last_nps,
           sum(nps_sum) OVER (w ROWS BETWEEN CURRENT ROW AND 5 FOLLOWING) AS nps_sum_180,
           sum(nps_n) OVER (w ROWS BETWEEN CURRENT ROW AND 5 FOLLOWING) AS nps_n_180,
           sum(csat_good) OVER (w ROWS BETWEEN CURRENT ROW AND 5 FOLLOWING) AS csat_good_180,
           sum(csat_n) OVER (w ROWS BETWEEN CURRENT ROW AND 5 FOLLOWING) AS csat_n_180,
           sum(ces_sum) OVER (w ROWS BETWEEN CURRENT ROW AND 5 FOLLOWING) AS ces_sum_180,
           sum(ces_n) OVER (w ROWS BETWEEN CURRENT ROW AND 5 FOLLOWING) AS ces_n_180,
           sum(tickets) OVER (w ROWS BETWEEN CURRENT ROW AND 2 FOLLOWING) AS tickets_90,
           sum(urgent) OVER (w ROWS BETWEEN CURRENT ROW AND 2 FOLLOWING) AS urgent_90,
           sum(response_hours) OVER (w ROWS BETWEEN CURRENT ROW AND 2 FOLLOWING) AS response_hours_90,
           sum(responses) OVER (w ROWS BETWEEN CURRENT ROW AND 2 FOLLOWING) AS responses_90
    FROM frame
    WINDOW w AS (PARTITION BY account_id ORDER BY k)
)"""


def frame_ctes() -> str:
    """The CTEs every observation statement starts from (see the module docstring); `observed` and `windowed`
    are what the features read."""
    return _FRAME


def _rows_sql(extra_columns: Sequence[tuple[str, str]], extra_ctes: str, extra_joins: str, *,
              with_features: bool = True) -> str:
    """The `rows` CTE: who is observed when, with MRR, renewal and horizon, then the features (unless left out)
    and `extra_columns`. Without the features PostgreSQL leaves the frame's CTEs they read unevaluated: no
    usage, survey or ticket is read."""
    columns = [f"({feature.sql}) AS {feature.name}" for feature in FEATURES] if with_features else []
    columns += [f"({sql}) AS {name}" for name, sql in extra_columns]
    joins = """
    JOIN windowed w ON w.account_id = o.account_id AND w.k = o.k
    LEFT JOIN open_tickets ot ON ot.account_id = o.account_id AND ot.k = o.k
    LEFT JOIN open_breaches ob ON ob.account_id = o.account_id AND ob.k = o.k
    LEFT JOIN first_events fe ON fe.account_id = o.account_id
    LEFT JOIN prior_use pu ON pu.account_id = o.account_id""" if with_features else ""
    selected = "".join(f",\n           {column}" for column in columns)
    return f"""WITH {_FRAME}{extra_ctes},
rows AS (
    SELECT o.account_id, o.k, o.o, o.mrr, o.next_renewal, hz.h AS horizon{selected}
    FROM observed o
    CROSS JOIN LATERAL (SELECT coalesce(%(horizon_days)s::int, o.next_renewal - o.o, %(default_horizon)s::int)
                        AS h) hz{joins}
    {extra_joins}
)"""


def _packed(columns: Sequence[tuple[str, str]]) -> str:
    """The `rows` CTE continued: one bytea per column, the rows concatenated in (account, k) order, each column
    a row of its own (row count, column position, bytes), so a reader streaming them holds one column at a time."""
    order = "ORDER BY account_id, k"
    parts = [f"string_agg({send}({name}), ''::bytea {order}) AS c{position}"
             for position, (name, send) in enumerate(columns)]
    each = ", ".join(f"({position}, c{position})" for position in range(len(columns)))
    return (f", packed AS (SELECT count(*) AS n, {', '.join(parts)} FROM rows)\n"
            f"SELECT n, x.position, x.data FROM packed CROSS JOIN LATERAL (VALUES {each}) AS x (position, data) "
            "ORDER BY x.position")


def _unpack(raw: bytes | memoryview | None, dtype: str, count: int) -> np.ndarray:
    """A packed big-endian column (`dtype` like ">f8") as a native array."""
    native = dtype.lstrip(">")
    if count == 0 or raw is None:
        return np.empty(0, dtype=native)
    return np.frombuffer(raw, dtype=dtype).astype(native)


def _columns_read(sql: str, params: dict, dtypes: Sequence[str], *, matrix: range) -> tuple[list, np.ndarray]:
    """Run a `_packed` statement: each column as an array (None for those in `matrix`), and the `matrix` columns
    side by side in one float64 array. Read in binary, a column at a time: the bytes of one column are held at
    once, not every column's, nor their hex text (twice their size) as a text-format result would be; at
    100,000 accounts and 25 dates a training's screening peaked at 609 MB before (libpq's hex text of every
    column, then their bytes, then the arrays)."""
    arrays: list = [None] * len(dtypes)
    values = np.empty((0, len(matrix)), dtype="float64")
    started = time.monotonic()
    with psycopg_cursor() as cursor:  # Django's cursors read text only
        for count, position, raw in cursor.stream(sql, params, binary=True):
            if position == 0:
                values = np.empty((count, len(matrix)), dtype="float64")
            array = _unpack(raw, dtypes[position], count)
            if position in matrix:
                values[:, position - matrix.start] = array
            else:
                arrays[position] = array
    if connection.queries_logged:  # recorded as Django's debug cursor records its own statements
        connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    return arrays, values


@dataclass
class Observations:
    """Rows of (account, observation date): features, and the labels when asked for (see labels.py)."""

    account_ids: np.ndarray  # int64
    observed_on: np.ndarray  # datetime64[D]
    values: np.ndarray  # (rows, len(FEATURES)) float64, NaN where missing; (rows, 0) when read without features
    mrr: np.ndarray
    next_renewal: np.ndarray  # datetime64[D], NaT without a renewal date
    categories: dict[str, np.ndarray]  # per row, the account's plan, region, industry
    horizon_days: np.ndarray  # days from the observation date to the end of its horizon
    label: np.ndarray | None = None  # 1 churned (or expanded), 0 not, -1 not known by the cutoff (censored)
    known_on: np.ndarray | None = None  # datetime64[D]: the day the outcome became known

    def __len__(self) -> int:
        return len(self.account_ids)

    def subset(self, mask: np.ndarray) -> Observations:
        def pick(array: np.ndarray | None) -> np.ndarray | None:
            return None if array is None else array[mask]

        return Observations(
            account_ids=self.account_ids[mask], observed_on=self.observed_on[mask], values=self.values[mask],
            mrr=self.mrr[mask], next_renewal=self.next_renewal[mask], horizon_days=self.horizon_days[mask],
            categories={name: values[mask] for name, values in self.categories.items()},
            label=pick(self.label), known_on=pick(self.known_on))


@dataclass
class Outcomes:
    """How many observations share each (observation date, day the outcome became known, label, horizon): all
    that says whether a history can support a model and which back-test folds it allows, in a few thousand
    counts where the observations are millions of rows (100,000 accounts on 25 dates)."""

    observed_on: np.ndarray  # datetime64[D]
    known_on: np.ndarray  # datetime64[D]
    label: np.ndarray  # int64: 1, 0, -1 censored
    horizon_days: np.ndarray  # int64
    count: np.ndarray  # int64: the observations in the group

    def __len__(self) -> int:
        return int(self.count.sum())

    @classmethod
    def of(cls, rows: Observations) -> Outcomes:
        """The counts of labelled rows read in full."""
        keys = np.stack([rows.observed_on.astype("int64"), rows.known_on.astype("int64"), rows.label,
                         rows.horizon_days]).T
        groups, count = np.unique(keys, axis=0, return_counts=True)
        return cls(observed_on=groups[:, 0].astype("datetime64[D]"), known_on=groups[:, 1].astype("datetime64[D]"),
                   label=groups[:, 2], horizon_days=groups[:, 3], count=count.astype("int64"))

    def subset(self, mask: np.ndarray) -> Outcomes:
        return Outcomes(observed_on=self.observed_on[mask], known_on=self.known_on[mask], label=self.label[mask],
                        horizon_days=self.horizon_days[mask], count=self.count[mask])


def outcomes(*, spec: Spec, cutoff: date, steps: int, account_ids: Sequence[int] | None = None) -> Outcomes:
    """The observations' outcomes as known on `cutoff`, counted in SQL: what `observations` with labels and without
    features gives (of `account_ids` only, when given), as counts, in memory that does not grow with the
    accounts."""
    from metrics.prediction.labels import LABEL_COLUMNS, LABEL_CTES, LABEL_JOINS

    epoch = f"DATE '{EPOCH.isoformat()}'"
    sql = (_rows_sql(LABEL_COLUMNS, LABEL_CTES, LABEL_JOINS, with_features=False)
           + f" SELECT o - {epoch}, known_on - {epoch}, label, horizon, count(*) FROM rows GROUP BY 1, 2, 3, 4")
    with connection.cursor() as cursor:
        cursor.execute(sql, statement_params(spec=spec, cutoff=cutoff, steps=steps, account_ids=account_ids))
        groups = np.array(cursor.fetchall(), dtype="int64").reshape(-1, 5)
    return Outcomes(observed_on=_days(groups[:, 0]), known_on=_days(groups[:, 1]), label=groups[:, 2],
                    horizon_days=groups[:, 3], count=groups[:, 4])


def statement_params(*, spec: Spec, cutoff: date, steps: int, account_ids: Sequence[int] | None) -> dict:
    from accounts.services import tenant_time_zone

    return {
        "cutoff": cutoff, "step": STEP_DAYS, "steps": steps, "buckets": steps + LOOKBACK_BUCKETS,
        "usage_buckets": steps + USAGE_WINDOW_BUCKETS - 1, "user_buckets": steps + 1,
        "account_ids": list(account_ids) if account_ids is not None else None, "tz": tenant_time_zone(),
        "core_features": list(spec.core_features), "key_feature": spec.key_feature,
        "activation_events": list(spec.activation_events), "value_event": spec.value_event,
        "activation_days": 30, "horizon_days": spec.horizon_days, "default_horizon": DEFAULT_HORIZON_DAYS,
        "grace_days": spec.grace_days, "share": spec.share, "expansion": spec.target == EXPANSION,
    }


def _days(values: np.ndarray) -> np.ndarray:
    """Days since EPOCH (int, -1 for none) as datetime64[D] (NaT for none)."""
    dates = (np.datetime64(EPOCH, "D") + values.astype("timedelta64[D]")).astype("datetime64[D]")
    dates[values < 0] = np.datetime64("NaT")
    return dates


def observations(*, spec: Spec, cutoff: date, steps: int, account_ids: Sequence[int] | None = None,
                 with_labels: bool = True, with_features: bool = True) -> Observations:
    """Every paying account on each of the `steps` observation dates ending on `cutoff`, in one statement.

    With `with_labels`, each row also carries its outcome as known on `cutoff` (labels.py): outcomes known only
    later are -1 (censored), never 0. Without `with_features` the rows carry MRR, renewal, horizon and labels only
    (no feature column, no category), at a fraction of the cost in time and memory: what a value needs when no
    model can score it, and what tells whether the history can support a model before its features are read.
    """
    from metrics.prediction.labels import LABEL_COLUMNS, LABEL_CTES, LABEL_JOINS

    epoch = f"DATE '{EPOCH.isoformat()}'"
    extra = LABEL_COLUMNS if with_labels else ()
    sql = _rows_sql(extra, LABEL_CTES if with_labels else "", LABEL_JOINS if with_labels else "",
                    with_features=with_features)
    columns = [("account_id", "int8send"), (f"(o - {epoch})::int", "int4send"), ("mrr", "float8send"),
               (f"coalesce(next_renewal - {epoch}, -1)", "int4send"), ("horizon", "int4send")]
    if with_features:
        columns += [(f"coalesce({feature.name}, 'NaN')", "float8send") for feature in FEATURES]
    if with_labels:
        columns += [("label", "int4send"), (f"(known_on - {epoch})::int", "int4send")]
    params = statement_params(spec=spec, cutoff=cutoff, steps=steps, account_ids=account_ids)
    width = len(FEATURES) if with_features else 0
    dtypes = [">i8", ">i4", ">f8", ">i4", ">i4", *[">f8"] * width, *([">i4", ">i4"] if with_labels else [])]
    arrays, values = _columns_read(sql + _packed(columns), params, dtypes, matrix=range(5, 5 + width))
    ids = arrays[0] if arrays[0] is not None else np.empty(0, dtype="i8")
    count = len(ids)
    attributes = {}
    if with_features:  # the model's categorical inputs; rows without features are never scored
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, " + ", ".join(f"coalesce(nullif({name}, ''), '(none)')" for name in CATEGORIES)
                           + " FROM accounts_account WHERE %(account_ids)s::bigint[] IS NULL"
                           " OR id = ANY(%(account_ids)s::bigint[])", params)
            attributes = {row[0]: row[1:] for row in cursor.fetchall()}
    categories = {name: np.array([attributes[account_id][position] for account_id in ids.tolist()], dtype=object)
                  for position, name in enumerate(CATEGORIES)} if with_features else {}
    result = Observations(account_ids=ids.astype("int64"), observed_on=_days(arrays[1]),
                          values=values.reshape(count, width), mrr=arrays[2], next_renewal=_days(arrays[3]),
                          horizon_days=arrays[4].astype("int64"), categories=categories)
    if with_labels:
        result.label = arrays[5 + width].astype("int64")
        result.known_on = _days(arrays[6 + width])
    return result


def observation_dates(*, cutoff: date, steps: int) -> list[date]:
    return [cutoff - timedelta(days=STEP_DAYS * k) for k in range(steps)]


def stored_health(rows: Observations) -> np.ndarray:
    """Each row's stored health score (the tenant's health.score KPI) on its observation date: the latest
    account value in the 35 days ending on it; NaN where there is none (no KPI, not computed then)."""
    scores = np.full(len(rows), np.nan)
    if not len(rows):
        return scores
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM metrics_kpi WHERE calculator = 'health.score' ORDER BY is_active DESC, id "
                       "LIMIT 1")
        found = cursor.fetchone()
        if found is None:
            return scores
        cursor.execute(
            """
            SELECT coalesce(v.value, 'NaN') FROM unnest(%s::bigint[], %s::date[]) WITH ORDINALITY AS r(account_id, o, n)
            LEFT JOIN LATERAL (
                SELECT mv.value FROM metrics_metricvalue mv
                WHERE mv.account_id = r.account_id AND mv.kpi_id = %s AND mv.scope = 'account'
                  AND mv.as_of <= r.o AND mv.as_of > r.o - 35 AND mv.value IS NOT NULL
                ORDER BY mv.as_of DESC LIMIT 1
            ) v ON true
            ORDER BY r.n
            """, [rows.account_ids.tolist(), rows.observed_on.astype(object).tolist(), found[0]])
        scores[:] = [value for (value,) in cursor.fetchall()]
    return scores


@dataclass
class Sample:
    """The accounts a model learns from: all of them (`account_ids` None) or, above `limit`, a fixed sample."""

    account_ids: list[int] | None
    accounts: int  # in the sample
    of: int  # accounts with revenue on or before the cutoff

    @property
    def sampled(self) -> bool:
        return self.account_ids is not None


def training_sample(*, cutoff: date, limit: int) -> Sample:
    """The accounts with revenue recorded on or before `cutoff` (the only ones ever observed paying), or `limit` of
    them chosen by a hash of their ids: a sample that is the same at every training and keeps each chosen
    account's whole history (its every observation date), so the back-test still tests later dates on it."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT a.id, count(*) OVER () FROM accounts_account a
            WHERE EXISTS (SELECT FROM accounts_revenuesnapshot r WHERE r.account_id = a.id AND r.month <= %s
                          AND r.mrr > 0)
            ORDER BY hashint8(a.id), a.id LIMIT %s
            """, [cutoff, limit + 1])
        found = cursor.fetchall()
    total = found[0][1] if found else 0
    if total <= limit:
        return Sample(account_ids=None, accounts=total, of=total)
    return Sample(account_ids=sorted(account_id for account_id, _ in found[:limit]), accounts=limit, of=total)


# Observations start this long after the tenant's first usage: every 30- and 90-day usage window is then whole
# (only the 90-day trend's earlier window may still be partly before the first usage).
USAGE_REACH_DAYS = 90


def usage_history_start(cutoff: date) -> date | None:
    """The first day of usage the tenant has on or before `cutoff` (None without any). Observations before it
    plus USAGE_REACH_DAYS would see usage missing for every account at once (the product's history starts later
    than its billing's), which teaches a model nothing true about any one of them."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(day) FROM accounts_usagedaily WHERE day <= %s", [cutoff])
        return cursor.fetchone()[0]
