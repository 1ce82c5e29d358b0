"""Segments: the account attributes every aggregate KPI is cut by, as of a date."""

from __future__ import annotations

from datetime import date

from django.db import connection

DIMENSIONS = ("plan", "region", "industry", "lifecycle_stage", "size_band", "owner")

# Monthly recurring revenue bands (the account's MRR in force on the as-of date).
SIZE_BANDS = ((0, "no MRR"), (0.01, "under 1k"), (1000, "1k-5k"), (5000, "5k-20k"), (20000, "20k+"))


def size_band(mrr: float | None) -> str:
    band = SIZE_BANDS[0][1]
    for lower, label in SIZE_BANDS:
        if (mrr or 0) >= lower:
            band = label
    return band


def account_segments(*, as_of: date) -> dict[int, dict[str, str]]:
    """Each account's segment in every dimension, in one query. Attributes are the account's current ones
    (no attribute history is kept); the size band uses the MRR in force on `as_of`."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT a.id, a.plan, a.region, a.industry, a.lifecycle_stage, coalesce(u.email, ''),
                   (SELECT r.mrr FROM accounts_revenuesnapshot r WHERE r.account_id = a.id
                      AND r.month <= %s ORDER BY r.month DESC LIMIT 1)
            FROM accounts_account a LEFT JOIN users_user u ON u.id = a.owner_id
            """,
            [as_of],
        )
        return {
            account_id: {"plan": plan or "(none)", "region": region or "(none)", "industry": industry or "(none)",
                         "lifecycle_stage": stage, "owner": owner or "(unowned)", "size_band": size_band(mrr)}
            for account_id, plan, region, industry, stage, owner, mrr in cursor.fetchall()
        }
