"""Revenue KPIs from monthly revenue snapshots (see docs/metrics.md, Revenue).

An account's MRR on a date is its latest snapshot on or before that date (a snapshot is dated on its
month's first day), 0 when it has none. "w months before t" is the same day w months earlier, or that
month's last day when the day does not exist (PostgreSQL's `date - interval 'w months'`).

Accounts outside a calculator's population (not in the cohort, not up for renewal, not paying) get no
account row at all, as the survey KPIs do for accounts without answers.
"""

from __future__ import annotations

import calendar
from datetime import date
from typing import ClassVar

from metrics.calculators.base import (
    ACCOUNTS_FILTER,
    GROUP_COLUMNS,
    Aggregate,
    Calculator,
    CalculatorError,
    Param,
    accounts_filter,
    by_group,
    merged_sum,
    register,
)
from metrics.inputs import SharedInput

LTV_CHURN_MONTHS = 6
RENEWAL_BASES = ("logo", "dollar")


def _latest_mrr(day: str) -> str:
    """The query of account `a`'s MRR in force on `day` (an SQL date expression), column `mrr`: no row before
    its first snapshot. Joined LATERAL, it is an index probe per account that the planner cannot inline."""
    return f"""SELECT r.mrr::float8 AS mrr FROM accounts_revenuesnapshot r
               WHERE r.account_id = a.id AND r.month <= {day} ORDER BY r.month DESC LIMIT 1"""


def _mrr_on(day: str) -> str:
    """Account `a`'s MRR in force on `day` (an SQL date expression); NULL before its first snapshot."""
    return f"({_latest_mrr(day)})"


def _months_before(day: date, months: int) -> date:
    """`day` minus `months` months, clamped to the month's last day: the SQL side's rule, for labels."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


# Every account that started on or before the window's start, with its MRR then and on the as-of date. The
# two lookups are LATERAL joins, so each runs once per account however often the calculators name the columns;
# the six cohort KPIs of a run share it (metrics.inputs).
_COHORT = f"""
    SELECT a.id AS account_id, w.window_start, mrr_then.mrr AS mrr_start, coalesce(mrr_now.mrr, 0) AS mrr_end
    FROM accounts_account a
    CROSS JOIN (SELECT (%(as_of)s::date - make_interval(months => %(window_months)s::int))::date
                AS window_start) w
    LEFT JOIN LATERAL ({_latest_mrr("w.window_start")}) mrr_then ON true
    LEFT JOIN LATERAL ({_latest_mrr("%(as_of)s::date")}) mrr_now ON true
    WHERE (a.start_date IS NULL OR a.start_date <= w.window_start)
      AND {ACCOUNTS_FILTER}
"""
COHORT = SharedInput(name="revenue_cohort", sql=_COHORT)

_COHORT_RULES = (
    " Cohort (snapshot) form: the cohort is every account paying (MRR > 0) window_months ago, i.e. on the same "
    "day window_months months before the as-of date (the month's last day when that day does not exist); MRR on "
    "a date is the latest monthly snapshot on or before it. Accounts that started after the window's start are "
    "outside numerator and denominator; a cohort account that churned and came back counts with its MRR now."
)


class CohortCalculator(Calculator):
    """Σ over the cohort of an account's contribution / Σ of its MRR at the window's start, in percent."""

    params = {"window_months": Param(int, default=12, minimum=1, maximum=120,
                                     help="Months between the cohort's start and the as-of date.")}
    scale = 100.0
    # The account's contribution, from mrr_start (MRR window_months ago, > 0) and mrr_end (MRR now).
    numerator_sql: ClassVar[str]
    denominator_sql: ClassVar[str] = "mrr_start"

    def inputs(self, params: dict) -> list[SharedInput]:
        return [COHORT]

    def account_sql(self, params: dict) -> str:
        return f"""
            SELECT account_id, {self.numerator_sql}, {self.denominator_sql}, 1, NULL,
                   jsonb_build_object('window_start', window_start, 'mrr_start', mrr_start, 'mrr_end', mrr_end)
            FROM {COHORT.placeholder} cohort
            WHERE mrr_start > 0
        """


@register
class GrossRevenueRetention(CohortCalculator):
    id = "revenue.grr"
    name = "Gross revenue retention"
    numerator_sql = "least(mrr_end, mrr_start)"
    formula = ("GRR = Σ min(MRR now, MRR window_months ago) / Σ MRR window_months ago, as a percentage: losses "
               "count, expansion does not, so it is never above 100%." + _COHORT_RULES)


@register
class NetRevenueRetention(CohortCalculator):
    id = "revenue.nrr"
    name = "Net revenue retention"
    numerator_sql = "mrr_end"
    formula = ("NRR = Σ MRR now / Σ MRR window_months ago, as a percentage; NRR = 100 + expansion rate - "
               "contraction rate - revenue churn rate." + _COHORT_RULES)


@register
class ExpansionRate(CohortCalculator):
    id = "revenue.expansion_rate"
    name = "Expansion rate"
    numerator_sql = "greatest(mrr_end - mrr_start, 0)"
    formula = ("Expansion rate = Σ max(0, MRR now - MRR window_months ago) / Σ MRR window_months ago, as a "
               "percentage." + _COHORT_RULES)


@register
class ContractionRate(CohortCalculator):
    id = "revenue.contraction_rate"
    name = "Contraction rate"
    numerator_sql = "CASE WHEN mrr_end > 0 AND mrr_end < mrr_start THEN mrr_start - mrr_end ELSE 0 END"
    formula = ("Contraction rate = Σ (MRR window_months ago - MRR now) over the accounts still paying less "
               "(0 < MRR now < MRR then) / Σ MRR window_months ago, as a percentage; accounts now at 0 count in "
               "revenue churn instead." + _COHORT_RULES)


@register
class RevenueChurnRate(CohortCalculator):
    id = "revenue.revenue_churn"
    per_account = False
    name = "Revenue churn rate"
    numerator_sql = "CASE WHEN mrr_end = 0 THEN mrr_start ELSE 0 END"
    formula = ("Revenue churn rate = Σ MRR window_months ago of the accounts now at 0 / Σ MRR window_months ago, "
               "as a percentage; downgrades of accounts still paying count in contraction instead." + _COHORT_RULES)


@register
class LogoChurnRate(CohortCalculator):
    id = "revenue.logo_churn"
    per_account = False
    name = "Logo churn rate"
    numerator_sql = "(mrr_end = 0)::int"
    denominator_sql = "1"
    formula = ("Logo churn rate = cohort accounts with MRR now = 0 / cohort accounts, as a percentage, over "
               "window_months (not annualised; annualising a monthly rate m is 1 - (1 - m)^12). New accounts "
               "never enter it." + _COHORT_RULES)


@register
class QuickRatio(Calculator):
    id = "revenue.quick_ratio"
    name = "SaaS quick ratio"
    params = {"window_months": Param(int, default=3, minimum=1, maximum=120,
                                     help="Months of month-to-month MRR movements, ending on the as-of date.")}
    scale = 1.0
    formula = ("Quick ratio = (new + expansion MRR) / (churned + contraction MRR), summing the movements between "
               "consecutive monthly snapshots over the window_months months ending with the as-of date's month "
               "(the change into each of those months from the month before; a month without a snapshot keeps "
               "the previous MRR). New: from 0 or no snapshot to > 0 (a returning account counts as new); "
               "expansion: a rise of a paying account; contraction: a fall to a lower MRR > 0; churn: a fall to "
               "0. Null when nothing was lost (denominator 0). One account row per account with a snapshot in "
               "those months.")

    def account_sql(self, params: dict) -> str:
        return f"""
            WITH snapshots AS (
                SELECT r.account_id, r.month, r.mrr::float8 AS mrr,
                       coalesce(lag(r.mrr) OVER (PARTITION BY r.account_id ORDER BY r.month), 0)::float8
                       AS previous
                FROM accounts_revenuesnapshot r
                JOIN accounts_account a ON a.id = r.account_id
                WHERE r.month <= %(as_of)s::date AND {ACCOUNTS_FILTER} AND {accounts_filter("r.account_id")}
            ), movements AS (
                SELECT account_id,
                       CASE WHEN previous = 0 AND mrr > 0 THEN mrr ELSE 0 END AS new,
                       CASE WHEN previous > 0 AND mrr > previous THEN mrr - previous ELSE 0 END AS expansion,
                       CASE WHEN mrr > 0 AND mrr < previous THEN previous - mrr ELSE 0 END AS contraction,
                       CASE WHEN previous > 0 AND mrr = 0 THEN previous ELSE 0 END AS churn
                FROM snapshots
                WHERE month > date_trunc('month',
                                         %(as_of)s::date - make_interval(months => %(window_months)s::int))
            )
            SELECT account_id, sum(new) + sum(expansion), sum(churn) + sum(contraction), 1, NULL,
                   jsonb_build_object('new', sum(new), 'expansion', sum(expansion),
                                      'contraction', sum(contraction), 'churn', sum(churn))
            FROM movements
            GROUP BY account_id
        """


@register
class RenewalRate(Calculator):
    id = "revenue.renewal_rate"
    name = "Renewal rate"
    params = {
        "window_days": Param(int, default=90, minimum=1, maximum=730,
                             help="Days of renewal dates, ending grace_days before the as-of date."),
        "grace_days": Param(int, default=30, minimum=0, maximum=365,
                            help="Days after the renewal date the account must still be paying."),
        "basis": Param(str, default="logo", help="logo (accounts) or dollar (ARR)."),
    }
    scale = 100.0
    formula = ("Renewal rate over the decided renewals: accounts whose renewal date falls in the window_days "
               "days ending grace_days before the as-of date (t - window_days - grace_days + 1 .. t - grace_days, "
               "so every outcome is known on t) and that were paying (MRR > 0) going into it: the MRR in force at the "
               "end of the month before the renewal month, since a non-renewal often shows as 0 already in the "
               "renewal month's snapshot. Renewed = "
               "MRR > 0 grace_days days after the renewal date. Logo basis (default): renewed accounts / accounts "
               "up for renewal. Dollar basis: (ARR up for renewal - churned ARR - downgrade ARR) / ARR up for "
               "renewal, with ARR = 12 x that MRR going into the renewal, compared with 12 x MRR grace_days later "
               "(expansion at renewal is not counted). As a percentage. Uses each account's current renewal "
               "date.")

    def clean_params(self, raw: dict | None) -> dict:
        params = super().clean_params(raw)
        if params["basis"] not in RENEWAL_BASES:
            raise CalculatorError(f"Parameter 'basis' must be one of {', '.join(RENEWAL_BASES)}; "
                                  f"got {params['basis']!r}.")
        return params

    def account_sql(self, params: dict) -> str:
        if params["basis"] == "dollar":
            numerator, denominator = "12 * least(mrr_after_grace, mrr_at_renewal)", "12 * mrr_at_renewal"
        else:
            numerator, denominator = "(mrr_after_grace > 0)::int", "1"
        return f"""
            SELECT account_id, {numerator}, {denominator}, 1, NULL,
                   jsonb_build_object(
                       'renewal_date', renewal_date,
                       'arr_up_for_renewal', 12 * mrr_at_renewal,
                       'arr_after_grace', 12 * mrr_after_grace,
                       'churned_arr', CASE WHEN mrr_after_grace = 0 THEN 12 * mrr_at_renewal ELSE 0 END,
                       'downgrade_arr', CASE WHEN mrr_after_grace > 0 AND mrr_after_grace < mrr_at_renewal
                                             THEN 12 * (mrr_at_renewal - mrr_after_grace) ELSE 0 END)
            FROM (
                SELECT a.id AS account_id, a.renewal_date,
                       coalesce({_mrr_on("(date_trunc('month', a.renewal_date)::date - 1)")}, 0) AS mrr_at_renewal,
                       coalesce({_mrr_on("a.renewal_date + %(grace_days)s::int")}, 0) AS mrr_after_grace
                FROM accounts_account a
                WHERE a.renewal_date BETWEEN %(as_of)s::date - (%(window_days)s::int + %(grace_days)s::int - 1)
                                         AND %(as_of)s::date - %(grace_days)s::int
                  AND {ACCOUNTS_FILTER}
            ) up_for_renewal
            WHERE mrr_at_renewal > 0
        """


@register
class AverageRevenuePerAccount(Calculator):
    id = "revenue.arpa"
    name = "Average revenue per account"
    scale = 1.0
    formula = ("ARPA = total MRR of the paying accounts (MRR > 0 on the as-of date) / number of paying accounts. "
               "An account's value is its own MRR; accounts not paying have no value.")

    def account_sql(self, params: dict) -> str:
        return f"""
            SELECT account_id, mrr, 1, 1, NULL, NULL
            FROM (SELECT a.id AS account_id, {_mrr_on("%(as_of)s::date")} AS mrr
                  FROM accounts_account a WHERE {ACCOUNTS_FILTER}) now
            WHERE mrr > 0
        """


@register
class LifetimeValue(Calculator):
    id = "revenue.ltv"
    name = "Customer lifetime value"
    params = {"gross_margin": Param(float, default=0.8, minimum=0, maximum=1,
                                    help="Gross margin as a fraction between 0 and 1.")}
    formula = (f"LTV = ARPA x gross_margin / monthly logo churn, for the portfolio or a segment. ARPA = MRR of the "
               f"accounts paying on the as-of date / their number. Monthly logo churn = the mean, over the "
               f"{LTV_CHURN_MONTHS} one-month periods ending on the as-of date and on each of the "
               f"{LTV_CHURN_MONTHS - 1} same days of the months before, of (accounts paying at the period's start "
               f"that are at 0 at its end / accounts paying at its start), the 1-month logo churn rule; periods "
               f"without paying accounts are skipped. Null when that churn is 0 or there is no paying account. "
               f"Account rows carry their MRR and churn observations; an account has no LTV of its own (null).")

    def account_sql(self, params: dict) -> str:
        return f"""
            WITH points AS (
                SELECT a.id AS account_id, a.start_date, p.k, p.day, coalesce({_mrr_on("p.day")}, 0) AS mrr
                FROM accounts_account a
                CROSS JOIN (SELECT k, (%(as_of)s::date - make_interval(months => k))::date AS day
                            FROM generate_series(0, {LTV_CHURN_MONTHS}) k) p
                WHERE {ACCOUNTS_FILTER}
            ), periods AS (
                SELECT account_id, k, mrr AS mrr_end, lead(mrr) OVER w AS mrr_start,
                       lead(day) OVER w AS period_start, start_date
                FROM points
                WINDOW w AS (PARTITION BY account_id ORDER BY k)
            ), observed AS (
                SELECT account_id, k, mrr_end,
                       (mrr_start > 0 AND (start_date IS NULL OR start_date <= period_start)) AS paying_at_start
                FROM periods
                WHERE k < {LTV_CHURN_MONTHS}
            )
            SELECT account_id, mrr_now, (mrr_now > 0)::int, (mrr_now > 0)::int, NULL,
                   jsonb_build_object('mrr', mrr_now, 'paying_at_start', paying_at_start, 'churned', churned)
            FROM (
                SELECT account_id, max(mrr_end) FILTER (WHERE k = 0) AS mrr_now,
                       bool_or(paying_at_start) AS ever_paying_at_start,
                       jsonb_agg(paying_at_start::int ORDER BY k) AS paying_at_start,
                       jsonb_agg((paying_at_start AND mrr_end = 0)::int ORDER BY k) AS churned
                FROM observed
                GROUP BY account_id
            ) contributions
            WHERE mrr_now > 0 OR ever_paying_at_start
        """

    def aggregate_sql(self, params: dict) -> str:
        # Per group: MRR and number of the accounts paying now, and for each month k the accounts paying at its
        # start and those of them churned by its end; finish_aggregate turns them into the LTV.
        def month_sums(key: str) -> str:
            return ", ".join(f"coalesce(sum((details -> '{key}' ->> {k})::int), 0)" for k in range(LTV_CHURN_MONTHS))

        return f"""
            SELECT {GROUP_COLUMNS}, NULL, sum(numerator) FILTER (WHERE denominator <> 0),
                   count(account_id) FILTER (WHERE denominator <> 0), NULL,
                   jsonb_build_object('paying_at_start', jsonb_build_array({month_sums("paying_at_start")}),
                                      'churned', jsonb_build_array({month_sums("churned")}))
            FROM members
            {by_group()}
        """

    finishes_in_python = True

    def merge_aggregate(self, stored: Aggregate, added: Aggregate, removed: Aggregate, *, as_of: date,
                        params: dict) -> Aggregate | None:
        """The paying accounts' MRR and count and each month's paying and churned accounts are sums: the stored
        group's (kept in its details), corrected, then finished as a computation finishes them."""
        kept = stored.details
        if kept is None:  # a group not stored yet
            kept = {"paying_mrr": 0.0, "paying_accounts": 0, "months": []}
        elif "paying_mrr" not in kept:  # stored before its sums were kept
            return None
        none = [0] * LTV_CHURN_MONTHS
        months = {}
        for key in ("paying_at_start", "churned"):
            had = [month[key] for month in kept["months"]] or none
            new, old = ((part.details or {}).get(key) or none for part in (added, removed))
            months[key] = [int(a) + int(b) - int(c) for a, b, c in zip(had, new, old, strict=True)]
        return self.finish_aggregate(Aggregate(
            value=None, numerator=merged_sum(kept["paying_mrr"], added.numerator, removed.numerator),
            denominator=merged_sum(kept["paying_accounts"], added.denominator, removed.denominator),
            details=months), as_of=as_of, params=params)

    def finish_aggregate(self, aggregate: Aggregate, *, as_of: date, params: dict) -> Aggregate:
        """LTV of a group from its paying accounts' MRR and the month-by-month churn counts.

        `paying_at_start[k]` / `churned[k]` count the month ending k months before the as-of date.
        """
        paying = int(aggregate.denominator or 0)
        arpa = aggregate.numerator / paying if paying else None
        months, rates = [], []
        for k in range(LTV_CHURN_MONTHS):
            at_risk, churned = aggregate.details["paying_at_start"][k], aggregate.details["churned"][k]
            rate = churned / at_risk if at_risk else None
            if rate is not None:
                rates.append(rate)
            months.append({"period_end": _months_before(as_of, k).isoformat(), "paying_at_start": at_risk,
                           "churned": churned, "churn_rate": rate})
        churn = sum(rates) / len(rates) if rates else None
        margin_per_account = None if arpa is None else arpa * params["gross_margin"]
        value = margin_per_account / churn if margin_per_account is not None and churn else None
        return Aggregate(value=value, numerator=margin_per_account, denominator=churn, sample_size=paying,
                         details={"arpa": arpa, "paying_accounts": paying,
                                  "paying_mrr": aggregate.numerator if paying else None,
                                  "gross_margin": params["gross_margin"], "monthly_logo_churn": churn,
                                  "months": months})
