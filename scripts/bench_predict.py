"""Benchmark: renewal probability on 10,000 accounts with 24 months of history, against a hand-written SQL baseline.

    make bench-predict      (or: .venv/bin/python scripts/bench_predict.py [--accounts 10000])

Builds (once; reused while its size matches) a tenant `benchpredict`: 10,000 accounts started over the last three
years, monthly revenue, daily usage rollups (the features read the rollups, so raw events are not generated), NPS
answers and tickets over 24 months, with a churn process a model can learn: each account has a hidden health; the
less healthy are likelier to leave at a renewal, and a leaving account's use falls, its answers sour and its tickets
pile up in the months before; some unhealthy accounts decline and stay, some healthy ones leave without warning.
Then, in the same run:
  1. features: every paying account on each of the 25 observation dates of two years (metrics.prediction.features,
     one statement), labels included;
  2. the baseline: the same 32 features computed by hand-written SQL (range joins over each window and lateral
     look-ups, as one would write them directly), checked value by value against the engine's;
  3. training with its back-test: metrics.prediction.learning.learn (features, both candidates on every fold,
     the winner fitted and calibrated), as the weekly training runs it;
  4. scoring: every account's probability and drivers on the cutoff, by the stored model (what a KPI computation
     asks for);
and prints each phase, the ratio of the features to the baseline (goal <= 2), the model's back-test and each
phase's peak RSS (goal < 1 GB): training and scoring run in a fresh process of their own (`--phase`), as a worker
runs them, so their memory is not the benchmark's own frames. Goals: training with back-test under 60 s, scoring
under 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.db import connection  # noqa: E402
from django_tenants.utils import tenant_context  # noqa: E402

from tenants.models import Tenant  # noqa: E402
from tenants.services import tenant_create  # noqa: E402

SLUG = "benchpredict"
AS_OF = date(2026, 10, 31)
# Rounds of the features and the baseline, alternating, the best of each kept (a shared machine only ever makes a
# run slower).
REPEATS = 3
EVENTS = {"core_features": ["report_created", "dashboard_viewed", "workflow_created"],
          "key_feature": "report_created", "activation_events": ["workflow_created"],
          "value_event": "report_created"}


def _scalar(sql: str, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchone()[0]


# Uniform [0, 1) from an integer key, deterministic: the data set is the same on every machine.
_U = "((hashint8(({key})::bigint) & 2147483647)::float8 / 2147483648)"


def _u(key: str) -> str:
    return _U.format(key=key)


def build(accounts: int) -> None:
    """Generate the data set in SQL unless it is already there at this size."""
    # The tickets are written last: with them the set is whole (an interrupted build starts again).
    if _scalar("SELECT count(*) FROM accounts_account") == accounts and _scalar(
            "SELECT count(*) FROM accounts_supportticket") > 0:
        print(f"data set present: {accounts:,} accounts")
        return
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE accounts_account, accounts_usageevent, accounts_usagedaily, accounts_userdaily, "
                       "accounts_revenuesnapshot, accounts_surveyresponse, accounts_supportticket, "
                       "metrics_metricvalue, metrics_computationrun, metrics_predictionmodel CASCADE")
        # The hidden plan of each account: health h, its start, the renewal it leaves at (if any) and when its
        # decline starts (leavers, and some unhealthy accounts that stay: the noise a model cannot see through).
        cursor.execute(f"""
            CREATE TEMP TABLE bench_plan AS
            WITH base AS (
                SELECT n, {_u("n * 7 + 1")} AS h,
                       %(as_of)s::date - (30 + floor({_u("n * 7 + 2")} * 1050))::int AS start_date,
                       5 + floor({_u("n * 7 + 3")} * 120)::int AS seats
                FROM generate_series(1, %(accounts)s) n
            ), renewals AS (
                SELECT b.*, (b.start_date + make_interval(years => y))::date AS renewal, y
                FROM base b CROSS JOIN generate_series(1, 3) y
            ), leaving AS (
                SELECT DISTINCT ON (n) n, renewal AS churn_date
                FROM renewals
                WHERE renewal < %(as_of)s AND {_u("n * 7 + 4 + y * 100003")} < 0.04 + 0.5 * (1 - h) ^ 3
                ORDER BY n, renewal
            )
            SELECT b.n, b.h, b.start_date, b.seats, l.churn_date,
                   CASE WHEN l.churn_date IS NOT NULL
                        THEN l.churn_date - (45 + floor({_u("b.n * 7 + 5")} * 120))::int
                        WHEN b.h < 0.35 AND {_u("b.n * 7 + 6")} < 0.3
                        THEN %(as_of)s::date - (20 + floor({_u("b.n * 7 + 6")} * 400))::int
                   END AS decline_from
            FROM base b LEFT JOIN leaving l USING (n)
        """, {"as_of": AS_OF, "accounts": accounts})
        cursor.execute("""
            INSERT INTO accounts_account (external_id, name, plan, region, industry, lifecycle_stage, status,
                start_date, renewal_date, licensed_seats, owner_id, custom_attributes, created_at, updated_at)
            SELECT 'BP-' || n, 'Account ' || n, (ARRAY['Starter','Growth','Enterprise'])[1 + n %% 3],
                   (ARRAY['NA','EMEA','APAC','LATAM'])[1 + n %% 4],
                   (ARRAY['Software','Retail','Finance','Health','Media','Logistics'])[1 + n %% 6],
                   'mature', CASE WHEN churn_date IS NULL THEN 'active' ELSE 'churned' END, start_date,
                   coalesce(churn_date, (start_date + make_interval(
                       years => extract(year FROM age(%(as_of)s::date, start_date))::int + 1))::date),
                   seats, NULL, '{}', now(), now()
            FROM bench_plan
        """, {"as_of": AS_OF})
        cursor.execute("ALTER TABLE bench_plan ADD COLUMN account_id bigint")
        cursor.execute("UPDATE bench_plan p SET account_id = a.id FROM accounts_account a "
                       "WHERE a.external_id = 'BP-' || p.n")
        cursor.execute("""
            INSERT INTO accounts_revenuesnapshot (account_id, month, mrr, updated_at)
            SELECT p.account_id, m::date,
                   CASE WHEN p.churn_date IS NOT NULL AND m >= date_trunc('month', p.churn_date) THEN 0
                        ELSE round((50 + 20 * p.seats) * (1 + 0.2 * (p.h > 0.8 AND m >= %(as_of)s::date
                                   - interval '8 months')::int)::numeric, 2) END, now()
            FROM bench_plan p
            CROSS JOIN LATERAL generate_series(date_trunc('month', p.start_date),
                                               date_trunc('month', %(as_of)s::date), interval '1 month') m
        """, {"as_of": AS_OF})
        # A day's use: active on ~45-85% of days by health, events by seats, one to three people; a decline falls to
        # about a sixth of the use over 120 days.
        cursor.execute(f"""
            CREATE TEMP TABLE bench_days AS
            SELECT p.account_id, d::date AS day, p.seats, p.n,
                   greatest(0.15, CASE WHEN p.decline_from IS NULL OR d < p.decline_from THEN 1.0
                                       ELSE 1 - 0.85 * least(1, (d::date - p.decline_from) / 120.0) END) AS level
            FROM bench_plan p
            CROSS JOIN LATERAL generate_series(greatest(p.start_date, %(as_of)s::date - 730),
                                               coalesce(p.churn_date, %(as_of)s::date) - 1, interval '1 day') d
            WHERE {_u("p.n::bigint * 1000003 + (d::date - date '2000-01-01')")} < (0.45 + 0.4 * p.h)
        """, {"as_of": AS_OF})
        cursor.execute(f"""
            INSERT INTO accounts_usagedaily (account_id, day, event_name, events, distinct_users)
            SELECT account_id, day, e.name,
                   1 + floor(level * e.scale * sqrt(seats) * {_u("n * 31 + (day - date '2000-01-01') * 7 + e.k")})::int,
                   1
            FROM bench_days
            CROSS JOIN (VALUES (1, 'report_created', 3.0), (2, 'dashboard_viewed', 6.0),
                               (3, 'workflow_created', 0.5)) AS e(k, name, scale)
            WHERE e.k < 3 OR {_u("n * 17 + (day - date '2000-01-01')")} < 0.1
        """)
        cursor.execute(f"""
            INSERT INTO accounts_userdaily (account_id, day, user_id, events)
            SELECT account_id, day, 'u' || u, 1
            FROM bench_days
            CROSS JOIN LATERAL generate_series(1, 1 + floor(2 * level
                       * {_u("n * 13 + (day - date '2000-01-01')")})::int) u
        """)
        cursor.execute(f"""
            INSERT INTO accounts_surveyresponse (external_id, account_id, kind, score, comment, respondent,
                                                 responded_at)
            SELECT 'bp-' || p.n || '-' || q, p.account_id, 'nps',
                   least(10, greatest(0, round(4 + 6 * p.h - 4 * (p.decline_from IS NOT NULL
                        AND s.day >= p.decline_from)::int + 3 * ({_u("p.n * 11 + q")} - 0.5))))::int,
                   '', '', s.day::timestamp AT TIME ZONE 'UTC' + interval '12 hours'
            FROM bench_plan p
            CROSS JOIN generate_series(0, 7) q
            CROSS JOIN LATERAL (SELECT (%(as_of)s::date - 720 + q * 90 + floor({_u("p.n * 5 + q")} * 80)::int)
                                       AS day) s
            WHERE s.day >= p.start_date AND s.day < coalesce(p.churn_date, %(as_of)s::date)
              AND {_u("p.n * 19 + q")} < 0.6
        """, {"as_of": AS_OF})
        cursor.execute(f"""
            INSERT INTO accounts_supportticket (external_id, account_id, subject, priority, opened_at,
                                                first_response_at, resolved_at, handling_minutes)
            SELECT 'bp-' || p.n || '-' || t, p.account_id, '',
                   CASE WHEN {_u("p.n * 23 + t")} < 0.2 THEN 'high' ELSE 'normal' END, o.at,
                   o.at + (1 + floor({_u("p.n * 29 + t")} * 30)) * interval '1 hour',
                   CASE WHEN declining AND {_u("p.n * 37 + t")} < 0.4 THEN NULL
                        ELSE o.at + (2 + floor({_u("p.n * 41 + t")} * 200)) * interval '1 hour' END,
                   10 + t
            FROM bench_plan p
            CROSS JOIN generate_series(0, 11) t
            CROSS JOIN LATERAL (SELECT (%(as_of)s::date - 720 + t * 60 + floor({_u("p.n * 43 + t")} * 55)::int)
                                       AS day) d
            CROSS JOIN LATERAL (SELECT d.day::timestamp AT TIME ZONE 'UTC' + interval '9 hours' AS at,
                                       p.decline_from IS NOT NULL AND d.day >= p.decline_from AS declining) o
            WHERE d.day >= p.start_date AND d.day < coalesce(p.churn_date, %(as_of)s::date)
              AND {_u("p.n * 47 + t")} < CASE WHEN o.declining THEN 0.9 ELSE 0.25 END
        """, {"as_of": AS_OF})
        cursor.execute("ANALYZE")
    print(f"generated the data set in {time.perf_counter() - started:.0f} s: "
          f"{_scalar('SELECT count(*) FROM accounts_usagedaily'):,} usage rollup rows, "
          f"{_scalar('SELECT count(*) FROM accounts_userdaily'):,} user rollup rows, "
          f"{_scalar('SELECT count(*) FROM accounts_surveyresponse'):,} NPS answers, "
          f"{_scalar('SELECT count(*) FROM accounts_supportticket'):,} tickets, "
          f"{_scalar('SELECT count(*) FROM accounts_account WHERE status = %s', ['churned']):,} accounts churned")


# The same features as metrics.prediction.features, written directly: the observation dates, each window a range
# join (or a lateral look-up) over the tables, one GROUP BY per source. Ordered by account and date.
BASELINE = """
WITH paying AS (
    SELECT a.id AS account_id, g.o, a.start_date, a.licensed_seats,
           CASE WHEN a.renewal_date > g.o
                THEN a.renewal_date - make_interval(years => extract(year FROM age(a.renewal_date - 1, g.o))::int)
                ELSE a.renewal_date + make_interval(years => extract(year FROM age(g.o, a.renewal_date))::int + 1)
           END::date AS next_renewal,
           (SELECT r.mrr::float8 FROM accounts_revenuesnapshot r WHERE r.account_id = a.id AND r.month <= g.o
            ORDER BY r.month DESC LIMIT 1) AS mrr,
           (SELECT r.mrr::float8 FROM accounts_revenuesnapshot r WHERE r.account_id = a.id AND r.month <= g.o - 90
            ORDER BY r.month DESC LIMIT 1) AS mrr_90,
           (SELECT r.mrr::float8 FROM accounts_revenuesnapshot r WHERE r.account_id = a.id AND r.month <= g.o - 365
            ORDER BY r.month DESC LIMIT 1) AS mrr_365
    FROM accounts_account a
    CROSS JOIN (SELECT %(cutoff)s::date - 30 * k AS o FROM generate_series(0, %(steps)s - 1) k) g
    WHERE a.start_date IS NULL OR a.start_date <= g.o
), obs AS MATERIALIZED (SELECT * FROM paying WHERE mrr > 0),
usage AS (
    SELECT p.account_id, p.o,
           sum(d.events) FILTER (WHERE d.day > p.o - 30) AS events_30,
           sum(d.events) FILTER (WHERE d.day <= p.o - 30 AND d.day > p.o - 60) AS events_30_before,
           sum(d.events) FILTER (WHERE d.day > p.o - 90) AS events_90,
           sum(d.events) FILTER (WHERE d.day <= p.o - 90) AS events_90_before,
           sum(d.events) FILTER (WHERE d.day > p.o - 30 AND d.event_name = %(key_feature)s) AS key_30,
           count(DISTINCT d.day) FILTER (WHERE d.day > p.o - 30) AS active_days_30,
           count(DISTINCT d.event_name) FILTER (WHERE d.day > p.o - 30 AND d.event_name = ANY(%(core)s))
               AS core_used_30
    FROM obs p JOIN accounts_usagedaily d ON d.account_id = p.account_id AND d.day <= p.o AND d.day > p.o - 180
                                             AND d.events > 0
    GROUP BY 1, 2
),
users AS (
    SELECT p.account_id, p.o, count(DISTINCT u.user_id) FILTER (WHERE u.day > p.o - 30) AS users_30,
           count(DISTINCT u.user_id) FILTER (WHERE u.day <= p.o - 30) AS users_30_before
    FROM obs p JOIN accounts_userdaily u ON u.account_id = p.account_id AND u.day <= p.o AND u.day > p.o - 60
                                            AND u.events > 0
    GROUP BY 1, 2
),
surveys AS (
    SELECT p.account_id, p.o,
           sum(s.score) FILTER (WHERE s.kind = 'nps') AS nps_sum, count(*) FILTER (WHERE s.kind = 'nps') AS nps_n,
           count(*) FILTER (WHERE s.kind = 'csat' AND s.score >= 4) AS csat_good,
           count(*) FILTER (WHERE s.kind = 'csat') AS csat_n,
           sum(s.score) FILTER (WHERE s.kind = 'ces') AS ces_sum, count(*) FILTER (WHERE s.kind = 'ces') AS ces_n
    FROM obs p JOIN accounts_surveyresponse s ON s.account_id = p.account_id
         AND (s.responded_at AT TIME ZONE %(tz)s)::date <= p.o
         AND (s.responded_at AT TIME ZONE %(tz)s)::date > p.o - 180
    GROUP BY 1, 2
),
tickets AS (
    SELECT p.account_id, p.o, count(*) AS tickets_90,
           count(*) FILTER (WHERE t.priority IN ('high', 'urgent')) AS urgent_90,
           -- answered by the end of the 30 days (counted back from o) in which the ticket was opened
           sum(extract(epoch FROM t.first_response_at - t.opened_at)::float8 / 3600) FILTER (
               WHERE (t.first_response_at AT TIME ZONE %(tz)s)::date
                     <= p.o - 30 * ((p.o - (t.opened_at AT TIME ZONE %(tz)s)::date) / 30)) AS response_hours,
           count(*) FILTER (WHERE (t.first_response_at AT TIME ZONE %(tz)s)::date
                                  <= p.o - 30 * ((p.o - (t.opened_at AT TIME ZONE %(tz)s)::date) / 30)) AS responses
    FROM obs p JOIN accounts_supportticket t ON t.account_id = p.account_id
         AND (t.opened_at AT TIME ZONE %(tz)s)::date <= p.o AND (t.opened_at AT TIME ZONE %(tz)s)::date > p.o - 90
    GROUP BY 1, 2
),
firsts AS (
    SELECT d.account_id, min(d.day) FILTER (WHERE d.event_name = %(value_event)s) AS first_value,
           min(d.day) FILTER (WHERE d.event_name = ANY(%(activation)s)) AS first_activation
    FROM accounts_usagedaily d
    WHERE d.day <= %(cutoff)s AND d.events > 0
      AND (d.event_name = %(value_event)s OR d.event_name = ANY(%(activation)s))
    GROUP BY 1
)
SELECT p.account_id, p.o,
       ln(1 + coalesce(us.events_30, 0)), ln(1 + coalesce(us.events_90, 0)),
       ln((1 + coalesce(us.events_30, 0))::float8 / (1 + coalesce(us.events_30_before, 0))),
       ln((1 + coalesce(us.events_90, 0))::float8 / (1 + coalesce(us.events_90_before, 0))),
       coalesce(us.active_days_30, 0),
       least(coalesce(p.o - last_use.day, 390), 390),
       ln(1 + coalesce(ur.users_30, 0)),
       ln((1 + coalesce(ur.users_30, 0))::float8 / (1 + coalesce(ur.users_30_before, 0))),
       coalesce(ur.users_30, 0)::float8 / nullif(p.licensed_seats, 0),
       coalesce(us.core_used_30, 0)::float8 / cardinality(%(core)s::text[]),
       coalesce(us.key_30, 0)::float8 / nullif(us.events_30, 0),
       CASE WHEN p.start_date IS NULL THEN NULL
            WHEN f.first_activation < p.start_date + 30 AND f.first_activation <= p.o THEN 1 ELSE 0 END,
       coalesce(f.first_value <= p.o, false)::int,
       least(CASE WHEN f.first_value <= p.o THEN greatest(f.first_value - p.start_date, 0) ELSE p.o - p.start_date END,
             390),
       last_nps.score, coalesce(last_nps.score <= 6, false)::int,
       least(coalesce(p.o - last_nps.day, 390), 390),
       sv.nps_sum::float8 / nullif(sv.nps_n, 0), sv.csat_good::float8 / nullif(sv.csat_n, 0),
       sv.ces_sum::float8 / nullif(sv.ces_n, 0), coalesce(sv.nps_n + sv.csat_n + sv.ces_n, 0),
       coalesce(tk.tickets_90, 0), coalesce(tk.urgent_90, 0), open_tickets.n,
       tk.response_hours / nullif(tk.responses, 0),
       ((p.o - p.start_date) / 365.25)::float8, ln(1 + p.mrr), (p.mrr - p.mrr_90) / nullif(p.mrr_90, 0),
       (p.mrr - p.mrr_365) / nullif(p.mrr_365, 0), ln(1 + p.licensed_seats), least(p.next_renewal - p.o, 180),
       open_breaches.n
FROM obs p
LEFT JOIN usage us USING (account_id, o)
LEFT JOIN users ur USING (account_id, o)
LEFT JOIN surveys sv USING (account_id, o)
LEFT JOIN tickets tk USING (account_id, o)
LEFT JOIN firsts f USING (account_id)
LEFT JOIN LATERAL (SELECT max(d.day) AS day FROM accounts_usagedaily d WHERE d.account_id = p.account_id
                   AND d.day <= p.o AND d.day > p.o - 390 AND d.events > 0) last_use ON true
LEFT JOIN LATERAL (SELECT (s.responded_at AT TIME ZONE %(tz)s)::date AS day, s.score::float8 AS score
                   FROM accounts_surveyresponse s WHERE s.account_id = p.account_id AND s.kind = 'nps'
                        AND (s.responded_at AT TIME ZONE %(tz)s)::date <= p.o
                        AND (s.responded_at AT TIME ZONE %(tz)s)::date > p.o - 391
                   ORDER BY 1 DESC, 2 DESC LIMIT 1) last_nps ON true
LEFT JOIN LATERAL (SELECT count(*)::float8 AS n FROM accounts_supportticket t WHERE t.account_id = p.account_id
                   AND (t.opened_at AT TIME ZONE %(tz)s)::date <= p.o
                   AND (t.resolved_at IS NULL OR (t.resolved_at AT TIME ZONE %(tz)s)::date > p.o)) open_tickets ON true
LEFT JOIN LATERAL (SELECT count(*)::float8 AS n FROM metrics_breach b JOIN metrics_kpi k ON k.id = b.kpi_id
                   WHERE b.account_id = p.account_id AND k.calculator NOT LIKE 'prediction.%%'
                   AND b.opened_as_of < p.o AND (b.resolved_as_of IS NULL OR b.resolved_as_of >= p.o)) open_breaches
    ON true
ORDER BY p.account_id, p.o DESC  -- the engine's order: newest date first
"""


def baseline(spec, steps: int) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """The hand-written SQL's features as a matrix (NaN where missing): (seconds, account ids, dates, values)."""
    from accounts.services import tenant_time_zone

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(BASELINE, {
            "cutoff": AS_OF, "steps": steps, "tz": tenant_time_zone(), "key_feature": spec.key_feature,
            "core": list(spec.core_features), "value_event": spec.value_event,
            "activation": list(spec.activation_events)})
        rows = cursor.fetchall()
    ids = np.fromiter((row[0] for row in rows), dtype="int64", count=len(rows))
    dates = np.array([row[1] for row in rows], dtype="datetime64[D]")
    values = np.array([row[2:] for row in rows], dtype="float64")  # None becomes NaN
    return time.perf_counter() - started, ids, dates, values


def _phase(name: str, accounts: int, repeats: int) -> dict:
    """Run one phase (training, scoring) in a fresh process of this script: its time and its own peak RSS, not
    this process's, which holds the features' and the baseline's frames."""
    child = subprocess.run([sys.executable, __file__, "--phase", name, "--accounts", str(accounts), "--repeats",
                            str(repeats)], capture_output=True, text=True, check=False)
    found = [line for line in child.stdout.splitlines() if line.startswith("RESULT ")]
    if child.returncode or not found:
        sys.exit(f"the {name} phase failed:\n{child.stdout[-3000:]}\n{child.stderr[-3000:]}")
    return json.loads(found[-1][len("RESULT "):])


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM): unlike getrusage's, it starts again at exec, so a phase's
    process does not report the peak of the benchmark that started it."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024


def _training(spec) -> dict:
    """A stored version trained as the weekly training does (features, back-test, final fit, signed pickle)."""
    from metrics.models import PredictionModel
    from metrics.prediction.services import prediction_model_train

    PredictionModel.objects.all().delete()
    started = time.perf_counter()
    model = prediction_model_train(spec=spec, cutoff=AS_OF, trigger=PredictionModel.Trigger.MANUAL)
    seconds = time.perf_counter() - started
    if model.status != PredictionModel.Status.TRAINED:
        sys.exit(f"no model: {model.status} {model.reason}")
    return {"seconds": seconds, "rows": model.rows, "events": model.events, "folds": len(model.metrics["folds"]),
            "winner": model.metrics["winner"], "pooled": {name: {key: scores[key] for key in (
                "auc", "brier", "brier_base_rate", "log_loss", "top_decile_lift") if key in scores}
                for name, scores in model.metrics["pooled"].items()},
            "sample": model.metrics["sample"], "peak_mb": _peak_mb()}


def _scoring(spec, repeats: int) -> dict:
    """Every account's probability and drivers on the cutoff by the stored version, as a KPI computation asks."""
    from metrics.prediction.services import account_predictions
    from metrics.prediction.training import one_thread

    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        with one_thread():
            scored = sum(prediction.probability is not None for chunk in account_predictions(
                spec=spec, as_of=AS_OF, retrain_days=30) for prediction in chunk)
        times.append(time.perf_counter() - started)
    return {"times": times, "scored": scored, "peak_mb": _peak_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=REPEATS,
                        help="rounds of features/baseline and of scoring (default %(default)s; 1 at 100,000 accounts, "
                             "where one round of the baseline is a quarter of an hour)")
    parser.add_argument("--phase", choices=("all", "training", "scoring"), default="all", help=argparse.SUPPRESS)
    args = parser.parse_args()

    from metrics.prediction.features import FEATURE_NAMES, observations
    from metrics.prediction.spec import Spec

    tenant = Tenant.objects.filter(slug=SLUG).first() or tenant_create(
        slug=SLUG, name="Prediction benchmark", admin_email="admin@benchpredict.example",
        admin_password="bench-password-1").tenant
    spec = Spec(target="renewal", core_features=tuple(EVENTS["core_features"]), key_feature=EVENTS["key_feature"],
                activation_events=tuple(EVENTS["activation_events"]), value_event=EVENTS["value_event"])
    if args.phase != "all":
        with tenant_context(tenant):
            result = _training(spec) if args.phase == "training" else _scoring(spec, args.repeats)
        print("RESULT " + json.dumps(result), flush=True)
        return
    with tenant_context(tenant):
        build(args.accounts)
        feature_times, baseline_times = [], []
        for _ in range(args.repeats):
            started = time.perf_counter()
            rows = observations(spec=spec, cutoff=AS_OF, steps=spec.steps, with_labels=True)
            feature_times.append(time.perf_counter() - started)
            print(f"  features: {feature_times[-1]:.2f} s", flush=True)
            seconds, ids, dates, values = baseline(spec, spec.steps)
            baseline_times.append(seconds)
            print(f"  hand-written SQL: {seconds:.2f} s", flush=True)
        same_rows = len(ids) == len(rows) and (ids == rows.account_ids).all() and (dates == rows.observed_on).all()
        if same_rows:
            equal = np.isclose(values, rows.values, rtol=1e-9, atol=1e-9, equal_nan=True)
            differing = [FEATURE_NAMES[column] for column in np.flatnonzero(~equal.all(axis=0))]
            checked = (f"{int(equal.sum()):,} of {equal.size:,} values equal to the engine's"
                       + (f"; differing: {', '.join(differing)}" if differing else ""))
        else:
            checked = f"different rows: {len(ids):,} vs the engine's {len(rows):,}"
    connection.close()  # the phases' processes open their own
    training = _phase("training", args.accounts, 1)
    print(f"  training with back-test: {training['seconds']:.2f} s", flush=True)
    scoring = _phase("scoring", args.accounts, args.repeats)

    pooled = training["pooled"]
    winner = pooled[training["winner"]]
    sample = training["sample"]
    learned_from = (f"a sample of {sample['accounts']:,} of {sample['of']:,} accounts" if sample["sampled"]
                    else f"all {sample['of']:,} accounts")
    features, handwritten = min(feature_times), min(baseline_times)
    print(f"{args.accounts:,} accounts, 24 months, cutoff {AS_OF}; {len(rows):,} observations "
          f"({spec.steps} dates x paying accounts)")
    print(f"features, all observation dates, labels included:  {features:6.2f} s  (best of "
          f"{', '.join(f'{value:.2f}' for value in feature_times)})")
    print(f"hand-written SQL, the same features:               {handwritten:6.2f} s  (best of "
          f"{', '.join(f'{value:.2f}' for value in baseline_times)}; {checked})")
    print(f"ratio features / hand-written SQL:                 {features / handwritten:6.2f}  (goal <= 2)")
    print(f"training with back-test, stored (own process):     {training['seconds']:6.2f} s  (goal < 60 s; "
          f"{learned_from}: {training['rows']:,} labelled rows, {training['events']:,} churned, "
          f"{training['folds']} folds); peak RSS {training['peak_mb']:.0f} MB")
    print(f"scoring every account with drivers (own process):  {min(scoring['times']):6.2f} s  (goal < 5 s; "
          f"{scoring['scored']:,} probabilities; best of {', '.join(f'{value:.2f}' for value in scoring['times'])})"
          f"; peak RSS {scoring['peak_mb']:.0f} MB")
    print(f"back-test, pooled out of time: winner {training['winner']}, AUC {winner['auc']:.3f}, "
          f"Brier {winner['brier']:.4f} (base rate {winner['brier_base_rate']:.4f}), log-loss "
          f"{winner['log_loss']:.4f}, top-decile lift {winner['top_decile_lift']:.2f}; usage trend AUC "
          f"{pooled['usage_trend']['auc']:.3f}")
    print(f"peak RSS: features and baseline {_peak_mb():.0f} MB (this process, holding both frames); training "
          f"{training['peak_mb']:.0f} MB; scoring {scoring['peak_mb']:.0f} MB  (goal < 1024 MB each)")


if __name__ == "__main__":
    main()
