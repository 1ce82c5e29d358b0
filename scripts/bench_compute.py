"""Benchmark: a full recompute of the default KPI catalogue at every scope versus hand-written SQL.

    make bench-compute      (or: .venv/bin/python scripts/bench_compute.py [--accounts 10000 --events 5000000])

Builds (once; reused while its size matches) a tenant `benchcompute` with 10,000 accounts, 24 months of
revenue, 5,000,000 usage events over a year (rolled up), surveys and tickets. Then, in the same run:
  1. the engine: a computation run of every catalogue KPI for one date, all accounts, segments, portfolio;
  2. the baseline: hand-written SQL computing the same revenue, survey and usage KPIs straight from the
     tables (portfolio and per account), with no framework in between;
  3. an incremental recompute of 100 touched accounts;
and prints the times, their ratio, the number of queries of each engine run and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django_tenants.utils import tenant_context  # noqa: E402

from tenants.models import Tenant  # noqa: E402
from tenants.services import tenant_create  # noqa: E402

SLUG = "benchcompute"
AS_OF = date(2026, 10, 31)


def _scalar(sql: str, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchone()[0]


def build(accounts: int, events: int) -> None:
    """Generate the data set in SQL (deterministic: setseed) unless it is already there at this size."""
    from accounts.services import usage_rollups_refresh_all

    have_accounts = _scalar("SELECT count(*) FROM accounts_account")
    have_events = _scalar("SELECT count(*) FROM accounts_usageevent")
    if have_accounts == accounts and have_events == events:
        print(f"data set present: {accounts:,} accounts, {events:,} events")
        return
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE accounts_account, accounts_usageevent, accounts_usagedaily, accounts_userdaily, "
                       "accounts_revenuesnapshot, accounts_surveyresponse, accounts_supportticket, "
                       "metrics_metricvalue, metrics_computationrun CASCADE")
        cursor.execute("SELECT setseed(0.42)")
        cursor.execute(
            """
            INSERT INTO accounts_account (external_id, name, plan, region, industry, lifecycle_stage, status,
                start_date, renewal_date, licensed_seats, owner_id, custom_attributes, created_at, updated_at)
            SELECT 'BC-' || n, 'Account ' || n,
                   (ARRAY['Starter','Growth','Enterprise'])[1 + n %% 3],
                   (ARRAY['NA','EMEA','APAC','LATAM'])[1 + n %% 4],
                   (ARRAY['Software','Retail','Finance','Health','Media','Logistics'])[1 + n %% 6],
                   (ARRAY['onboarding','adoption','mature','renewal','at_risk'])[1 + n %% 5], 'active',
                   date '2023-11-01' + (n * 7919 %% 1080), date '2026-11-01' + (n %% 365),
                   5 + (n %% 3) * 40 + n %% 17, (SELECT min(id) FROM users_user),
                   '{}', now(), now()
            FROM generate_series(1, %s) n
            """,
            [accounts],
        )
        cursor.execute(
            """
            INSERT INTO accounts_revenuesnapshot (account_id, month, mrr, updated_at)
            SELECT a.id, m.month,
                   CASE WHEN a.id %% 11 = 0 AND m.month >= date '2026-04-01' THEN 0
                        ELSE round((100 + (a.id %% 3) * 900 + (a.id %% 50) * 10)
                                   * (1 + (a.id %% 7 - 3) * 0.01 * m.k)::numeric, 2) END,
                   now()
            FROM accounts_account a
            CROSS JOIN LATERAL (SELECT k, (date '2024-11-01' + make_interval(months => k))::date AS month
                                FROM generate_series(0, 23) k) m
            WHERE m.month >= date_trunc('month', a.start_date)::date
            """,
            [],
        )
        cursor.execute("SELECT min(id), max(id) FROM accounts_account")
        low, high = cursor.fetchone()
        cursor.execute(
            """
            INSERT INTO accounts_usageevent (idempotency_key, account_id, user_id, event_name, occurred_at,
                                             properties, received_at)
            SELECT 'bc-' || n, %s + (hashint4(n) & 2147483647) %% (%s - %s + 1),
                   'u' || ((hashint4(n + 7) & 2147483647) %% 25),
                   (ARRAY['login','dashboard_viewed','report_created','report_exported','integration_connected',
                          'alert_configured','user_invited','workflow_created'])
                       [1 + (hashint4(n + 3) & 2147483647) %% 8],
                   timestamptz '2025-11-01 00:00+00'
                       + ((hashint4(n + 11) & 2147483647) %% 31536000) * interval '1 second',
                   '{}', now()
            FROM generate_series(1, %s) n
            """,
            [low, high, low, events],
        )
        cursor.execute(
            """
            INSERT INTO accounts_surveyresponse (external_id, account_id, kind, score, comment, respondent,
                                                 responded_at)
            SELECT 'bs-' || n, %s + n %% (%s - %s + 1), k.kind,
                   CASE k.kind WHEN 'nps' THEN n %% 11 WHEN 'csat' THEN 1 + n %% 5 ELSE 1 + n %% 7 END,
                   '', '', timestamptz '2026-05-01 00:00+00' + (n %% 180) * interval '1 day'
            FROM generate_series(1, 20000) n
            CROSS JOIN LATERAL (SELECT (ARRAY['nps','csat','ces'])[1 + n %% 3] AS kind) k
            """,
            [low, high, low],
        )
        cursor.execute(
            """
            INSERT INTO accounts_supportticket (external_id, account_id, subject, priority, opened_at,
                                                first_response_at, resolved_at, handling_minutes)
            SELECT 'bt-' || n, %s + n %% (%s - %s + 1), '', 'normal',
                   timestamptz '2026-05-01 00:00+00' + (n %% 180) * interval '1 day',
                   timestamptz '2026-05-01 00:00+00' + (n %% 180) * interval '1 day' + (n %% 48) * interval '1 hour',
                   NULL, 10 + n %% 120
            FROM generate_series(1, 30000) n
            """,
            [low, high, low],
        )
        cursor.execute("ANALYZE")
    print(f"generated data in {time.perf_counter() - started:.0f} s; rolling up usage...")
    started = time.perf_counter()
    usage_rollups_refresh_all()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"rollups built in {time.perf_counter() - started:.0f} s")


BASELINE_SQL = {
    # Per account and portfolio in one statement each, straight from the tables.
    "grr/nrr/expansion/contraction/churn/logo churn": """
        WITH now_ AS (SELECT DISTINCT ON (account_id) account_id, mrr FROM accounts_revenuesnapshot
                      WHERE month <= %(t)s ORDER BY account_id, month DESC),
             then_ AS (SELECT DISTINCT ON (account_id) account_id, mrr FROM accounts_revenuesnapshot
                       WHERE month <= %(t)s - interval '12 months' ORDER BY account_id, month DESC),
             k AS (SELECT t.account_id, t.mrr AS m0, coalesce(n.mrr, 0) AS m1 FROM then_ t
                   LEFT JOIN now_ n USING (account_id) WHERE t.mrr > 0)
        SELECT account_id, least(m1, m0) / m0, m1 / m0, greatest(0, m1 - m0) / m0,
               CASE WHEN m1 > 0 AND m1 < m0 THEN m0 - m1 ELSE 0 END / m0,
               CASE WHEN m1 = 0 THEN m0 ELSE 0 END / m0, (m1 = 0)::int
        FROM k
        UNION ALL
        SELECT NULL, sum(least(m1, m0)) / sum(m0), sum(m1) / sum(m0), sum(greatest(0, m1 - m0)) / sum(m0),
               sum(CASE WHEN m1 > 0 AND m1 < m0 THEN m0 - m1 ELSE 0 END) / sum(m0),
               sum(CASE WHEN m1 = 0 THEN m0 ELSE 0 END) / sum(m0), avg((m1 = 0)::int)
        FROM k
    """,
    "nps/csat/ces": """
        SELECT account_id, kind,
               CASE kind WHEN 'nps' THEN 100.0 * (count(*) FILTER (WHERE score >= 9)
                                                  - count(*) FILTER (WHERE score <= 6)) / count(*)
                         WHEN 'csat' THEN 100.0 * count(*) FILTER (WHERE score >= 4) / count(*)
                         ELSE avg(score) END
        FROM accounts_surveyresponse
        WHERE responded_at >= %(t)s::date - 89 AND responded_at < %(t)s::date + 1
        GROUP BY GROUPING SETS ((account_id, kind), (kind))
    """,
    "stickiness/seat utilisation/trend": """
        WITH u AS (SELECT account_id, count(*) FILTER (WHERE day > %(t)s::date - 28) AS user_days28,
                          count(DISTINCT user_id) FILTER (WHERE day > %(t)s::date - 28) AS users28,
                          count(DISTINCT user_id) FILTER (WHERE day > %(t)s::date - 30) AS users30
                   FROM accounts_userdaily WHERE day > %(t)s::date - 30 AND day <= %(t)s GROUP BY account_id),
             e AS (SELECT account_id, sum(events) FILTER (WHERE day > %(t)s::date - 30) AS last30,
                          sum(events) FILTER (WHERE day <= %(t)s::date - 30) AS prev30
                   FROM accounts_usagedaily WHERE day > %(t)s::date - 60 AND day <= %(t)s GROUP BY account_id)
        SELECT a.id, 100.0 * u.user_days28 / 28 / nullif(u.users28, 0),
               100.0 * u.users30 / nullif(a.licensed_seats, 0),
               100.0 * (e.last30 - e.prev30) / nullif(e.prev30, 0)
        FROM accounts_account a LEFT JOIN u ON u.account_id = a.id LEFT JOIN e ON e.account_id = a.id
    """,
}


def baseline() -> float:
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for sql in BASELINE_SQL.values():
            cursor.execute(sql, {"t": AS_OF})
            cursor.fetchall()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    args = parser.parse_args()

    from metrics.catalogue import catalogue_install
    from metrics.models import KPI, ComputationRun
    from metrics.services import kpis_compute

    tenant = Tenant.objects.filter(slug=SLUG).first() or tenant_create(
        slug=SLUG, name="Compute benchmark", admin_email="admin@benchcompute.example",
        admin_password="bench-password-1").tenant
    with tenant_context(tenant):
        catalogue_install()
        build(args.accounts, args.events)
        kpis = list(KPI.objects.filter(is_active=True))
        baseline_seconds = min(baseline() for _ in range(2))

        with CaptureQueriesContext(connection) as full_queries:
            started = time.perf_counter()
            run = kpis_compute(as_of=AS_OF, kpis=kpis, trigger=ComputationRun.Trigger.MANUAL)
            engine_seconds = time.perf_counter() - started
        # The KPIs the hand-written SQL computes, so the comparison is like for like.
        comparable = {"grr", "nrr", "expansion-rate", "contraction-rate", "revenue-churn", "logo-churn", "nps",
                      "csat", "ces", "stickiness", "seat-utilization", "usage-trend"}
        revenue_survey_usage = [k for k in kpis if k.slug in comparable]
        started = time.perf_counter()
        kpis_compute(as_of=AS_OF, kpis=revenue_survey_usage, trigger=ComputationRun.Trigger.MANUAL)
        comparable_seconds = time.perf_counter() - started

        touched = list(_ids(100))
        with CaptureQueriesContext(connection) as incremental_queries:
            started = time.perf_counter()
            kpis_compute(as_of=AS_OF, kpis=kpis, account_ids=touched, trigger=ComputationRun.Trigger.INGEST)
            incremental_seconds = time.perf_counter() - started

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.accounts:,} accounts, {args.events:,} events, {len(kpis)} KPIs, as of {AS_OF}")
    errors = f" {run.errors}" if run.errors else ""
    print(f"engine, full catalogue, all scopes:    {engine_seconds:6.2f} s  ({run.rows_written:,} values, "
          f"{len(full_queries.captured_queries)} queries, status {run.status}{errors})")
    print(f"engine, the same 12 KPIs as below:     {comparable_seconds:6.2f} s")
    print(f"hand-written SQL, 12 revenue, survey and usage KPIs (no segments, nothing stored): "
          f"{baseline_seconds:6.2f} s")
    print(f"ratio engine / hand-written SQL:       {comparable_seconds / baseline_seconds:6.2f}  (goal <= 2)")
    print(f"incremental, 100 touched accounts:     {incremental_seconds:6.2f} s  "
          f"({len(incremental_queries.captured_queries)} queries; goal < 1 s)")
    print(f"peak RSS of this process:              {rss:6.0f} MB  (goal < 400 MB)")


def _ids(count: int):
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM accounts_account ORDER BY id LIMIT %s", [count])
        return [row[0] for row in cursor.fetchall()]


if __name__ == "__main__":
    main()
