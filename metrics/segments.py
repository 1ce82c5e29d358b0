"""Segments: the account attributes every aggregate KPI is cut by, as of a date.

One SQL definition serves both the set-based aggregation (joined in SQL) and the Python aggregators.
"""

from __future__ import annotations

from datetime import date

from django.db import connection

DIMENSIONS = ("plan", "region", "industry", "lifecycle_stage", "size_band", "owner")

# Attributes are the account's current ones (no attribute history is kept); the size band uses the MRR
# in force on the as-of date, in monthly bands.
SEGMENTS_SQL = """
    SELECT a.id AS account_id,
           coalesce(nullif(a.plan, ''), '(none)') AS plan,
           coalesce(nullif(a.region, ''), '(none)') AS region,
           coalesce(nullif(a.industry, ''), '(none)') AS industry,
           a.lifecycle_stage,
           CASE WHEN m.mrr >= 20000 THEN '20k+' WHEN m.mrr >= 5000 THEN '5k-20k' WHEN m.mrr >= 1000 THEN '1k-5k'
                WHEN m.mrr > 0 THEN 'under 1k' ELSE 'no MRR' END AS size_band,
           coalesce(u.email, '(unowned)') AS owner
    FROM accounts_account a
    LEFT JOIN users_user u ON u.id = a.owner_id
    LEFT JOIN LATERAL (SELECT r.mrr FROM accounts_revenuesnapshot r
                       WHERE r.account_id = a.id AND r.month <= %(as_of)s
                       ORDER BY r.month DESC LIMIT 1) m ON true
"""


def account_segments(*, as_of: date) -> dict[int, dict[str, str]]:
    """Each account's segment in every dimension, in one query."""
    with connection.cursor() as cursor:
        cursor.execute(SEGMENTS_SQL, {"as_of": as_of})
        return {row[0]: dict(zip(DIMENSIONS, row[1:], strict=True)) for row in cursor.fetchall()}
