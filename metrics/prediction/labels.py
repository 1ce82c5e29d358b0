"""What happened after each observation: the label of (account, o), as ../shared/METRICS.md defines it, with
censoring.

Horizon h of an observation: the `horizon_days` parameter, or the days to the account's next renewal after o
(renewals recur yearly on the renewal date), or 90 days without a renewal date.

- Renewal (the model predicts churn): churned = MRR on o + h is 0, or a renewal r falls in (o, o + h] and the
  MRR on r + grace_days is 0. The outcome is known on max(o + h, r + grace_days).
- Expansion: expanded = MRR on o + h >= (1 + share) x MRR on o, known on o + h.

An outcome not yet known on the cutoff is -1, censored: such a row is never labelled "renewed", and no model
trained at that cutoff sees it. MRR "on" a day is the latest monthly snapshot on or before it; the frame's
monthly series stops at the cutoff's month, so nothing after the cutoff is read.

These are SQL fragments the observation statement (features.observations) adds to its rows.
"""

LABEL_CTES = ""

LABEL_JOINS = """
    CROSS JOIN LATERAL (SELECT CASE WHEN NOT %(expansion)s AND o.next_renewal <= o.o + hz.h
                                    THEN o.next_renewal END AS r) renewal
    LEFT JOIN mrr_monthly m_end ON m_end.account_id = o.account_id
         AND m_end.month = date_trunc('month', (o.o + hz.h)::timestamp)::date
    LEFT JOIN mrr_monthly m_renewed ON m_renewed.account_id = o.account_id
         AND m_renewed.month = date_trunc('month', (renewal.r + %(grace_days)s::int)::timestamp)::date
"""

_KNOWN_ON = "greatest(o.o + hz.h, coalesce(renewal.r + %(grace_days)s::int, o.o + hz.h))"

_OUTCOME = """CASE WHEN %(expansion)s THEN coalesce(m_end.mrr, 0) >= (1 + %(share)s::float8) * o.mrr
                   ELSE coalesce(m_end.mrr, 0) = 0 OR (renewal.r IS NOT NULL AND coalesce(m_renewed.mrr, 0) = 0)
              END"""

LABEL_COLUMNS = (
    ("known_on", _KNOWN_ON),
    ("label", f"CASE WHEN {_KNOWN_ON} > %(cutoff)s::date THEN -1 WHEN {_OUTCOME} THEN 1 ELSE 0 END"),
)
