"""Support and cost KPIs from support tickets (see docs/metrics.md, Support and cost)."""

from __future__ import annotations

from collections.abc import Callable

from metrics.calculators.base import (
    ACCOUNTS_FILTER,
    GROUP_COLUMNS,
    Calculator,
    Param,
    accounts_filter,
    by_group,
    median_of_sorted,
    register,
)

WINDOW = Param(int, default=90, minimum=1, maximum=730, help="Days of tickets, ending on the as-of date.")

# A month of the cost model: the mean Gregorian month, 365.25 / 12 days.
DAYS_PER_MONTH = 30.4375

# The window's first instant and the instant after its last day, both tenant-local midnights.
_WINDOW_START = "(%(as_of)s::date - (%(window_days)s - 1))::timestamp AT TIME ZONE %(tz)s"
_WINDOW_END = "(%(as_of)s::date + 1)::timestamp AT TIME ZONE %(tz)s"

_TICKETS_IN_WINDOW = f"t.opened_at >= {_WINDOW_START} AND t.opened_at < {_WINDOW_END}"

# The accounts served in the window: every account with a ticket opened in it, and every active account
# that had started by the as-of date (with no ticket it counts 0). Status is the account's current one:
# no status history is kept, as for segments.
def _served(accounts: Callable[[str], str]) -> str:
    """The tickets and handling hours of the served accounts among `accounts` (a condition on an account id
    column), put on the ticket `t` as well as on the account `a`: the planner does not carry it across the join,
    and a few accounts' tickets are then read by the ticket's account index."""
    return f"""
    WITH tickets AS (
        SELECT t.account_id, count(*) AS tickets, sum(t.handling_minutes)::float8 / 60 AS handling_hours
        FROM accounts_supportticket t
        WHERE {_TICKETS_IN_WINDOW} AND {accounts("t.account_id")}
        GROUP BY t.account_id
    )
    SELECT a.id AS account_id, a.owner_id, coalesce(tk.tickets, 0) AS tickets,
           coalesce(tk.handling_hours, 0) AS handling_hours
    FROM accounts_account a
    LEFT JOIN tickets tk ON tk.account_id = a.id
    WHERE (tk.account_id IS NOT NULL
           OR (a.status = 'active' AND (a.start_date IS NULL OR a.start_date <= %(as_of)s)))
      AND {accounts("a.id")}
"""


def _books(column: str) -> str:
    """The computed accounts and every account in the book of a CSM owning one of them, as a condition on
    `column` (an account id): what a CSM's cost is split over. An incremental run reads the touched accounts'
    books, not every account; a full run (no account ids) folds it to true."""
    owners = f"SELECT b.owner_id FROM accounts_account b WHERE {accounts_filter('b.id')}"
    return (f"({accounts_filter(column)} OR {column} IN "
            f"(SELECT o.id FROM accounts_account o WHERE o.owner_id IN ({owners})))")


class SupportCalculator(Calculator):
    params = {"window_days": WINDOW}


@register
class TicketLoad(SupportCalculator):
    id = "support.ticket_load"
    name = "Ticket load"
    formula = ("Ticket load = support tickets opened in the last window_days days (tenant-local calendar days "
               "ending on the as-of date). Every active account started by then counts, with 0 when it opened "
               "none; accounts that opened tickets count even if no longer active. Segment and portfolio: "
               "tickets per account = total tickets / accounts.")

    def account_sql(self, params: dict) -> str:
        return f"""
            SELECT served.account_id, served.tickets, 1, served.tickets, served.tickets, NULL
            FROM ({_served(accounts_filter)}) served
            JOIN accounts_account a ON a.id = served.account_id
            WHERE {ACCOUNTS_FILTER}
        """


@register
class FirstResponseHours(SupportCalculator):
    id = "support.first_response_hours"
    name = "Median first response time"
    formula = ("First response hours = the median, in calendar hours, of first response time - opening time over "
               "the tickets opened in the last window_days days and first answered by the end of the as-of "
               "date; tickets still waiting for a first response are left out (and counted in the details). "
               "Segment and portfolio: the median over all their accounts' tickets, not a mean of medians.")

    def account_sql(self, params: dict) -> str:
        return f"""
            SELECT a.id, NULL, count(r.hours), count(r.hours),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY r.hours),
                   jsonb_build_object(
                       'response_hours', coalesce(jsonb_agg(r.hours ORDER BY r.hours)
                                                  FILTER (WHERE r.hours IS NOT NULL), '[]'::jsonb),
                       'unanswered', count(*) FILTER (WHERE r.hours IS NULL))
            FROM accounts_account a
            JOIN (
                SELECT t.account_id,
                       CASE WHEN t.first_response_at < {_WINDOW_END}
                            THEN extract(epoch FROM t.first_response_at - t.opened_at)::float8 / 3600
                       END AS hours
                FROM accounts_supportticket t
                WHERE {_TICKETS_IN_WINDOW} AND {accounts_filter("t.account_id")}
            ) r ON r.account_id = a.id
            WHERE {ACCOUNTS_FILTER}
            GROUP BY a.id
        """

    def aggregate_sql(self, params: dict) -> str:
        # Per group: the median over every ticket of its accounts (the response hours each account row carries,
        # sorted), not a mean of medians; and the tickets still unanswered. Two passes over the members: the
        # counts hash-group every account, the medians sort only the tickets' hours.
        return f"""
            SELECT g.dimension, g.segment, {median_of_sorted("h.hours")}, NULL,
                   coalesce(cardinality(h.hours), 0), coalesce(cardinality(h.hours), 0),
                   jsonb_build_object('unanswered', g.unanswered)
            FROM (SELECT {GROUP_COLUMNS}, coalesce(sum((details ->> 'unanswered')::int), 0)
                  FROM members {by_group()}) AS g (dimension, segment, unanswered)
            LEFT JOIN (SELECT {GROUP_COLUMNS}, array_agg(hour::float8 ORDER BY hour::float8)
                       FROM members
                       CROSS JOIN LATERAL jsonb_array_elements_text(details -> 'response_hours') AS hour
                       {by_group()}) AS h (dimension, segment, hours)
                   ON h.dimension = g.dimension AND h.segment = g.segment
        """


@register
class CostToServe(SupportCalculator):
    id = "support.cost_to_serve"
    name = "Cost to serve"
    params = {
        "window_days": WINDOW,
        "hourly_support_cost": Param(float, default=60.0, minimum=0,
                                     help="Cost of one hour of support handling, in the tenant's currency."),
        "csm_monthly_cost": Param(float, default=8000.0, minimum=0,
                                  help="Monthly cost of one CSM, shared equally by the accounts of the CSM's book."),
    }
    formula = ("Cost to serve = handling hours of the tickets opened in the last window_days days x "
               "hourly_support_cost + csm_monthly_cost / accounts in the owning CSM's book x months in the "
               "window (window_days / 30.4375). The book is the CSM's accounts served in the window (active "
               "and started by the as-of date, or with a ticket in the window); an account without an owner "
               "carries no CSM cost. Segment and portfolio: the mean per account (total cost / accounts).")

    def sql_params(self, *, params: dict, **kwargs) -> dict:
        return {**super().sql_params(params=params, **kwargs), "months": params["window_days"] / DAYS_PER_MONTH}

    def account_sql(self, params: dict) -> str:
        # Books are counted over the served accounts of the computed accounts' CSMs before the account filter, so
        # an incremental run over a few accounts splits the CSM's cost exactly as a full run does.
        return f"""
            WITH costed AS (
                SELECT served.*,
                       served.handling_hours * %(hourly_support_cost)s AS support_cost,
                       CASE WHEN served.owner_id IS NOT NULL
                            THEN count(*) OVER (PARTITION BY served.owner_id) END AS book_size
                FROM ({_served(_books)}) served
            ), priced AS (
                SELECT costed.*,
                       coalesce(%(csm_monthly_cost)s / book_size * %(months)s::float8, 0) AS csm_cost
                FROM costed
            )
            SELECT p.account_id, p.support_cost + p.csm_cost, 1, p.tickets, p.support_cost + p.csm_cost,
                   jsonb_build_object('tickets', p.tickets, 'handling_hours', p.handling_hours,
                                      'support_cost', p.support_cost, 'csm_cost', p.csm_cost,
                                      'csm_book_size', p.book_size, 'months', %(months)s::float8)
            FROM priced p
            JOIN accounts_account a ON a.id = p.account_id
            WHERE {ACCOUNTS_FILTER}
        """


@register
class Margin(CostToServe):
    id = "support.margin"
    name = "Margin"
    formula = ("Margin = revenue in the last window_days days - cost to serve over the same days (as Cost to serve, "
               "with the same parameters and accounts). Revenue in the window: each day's MRR in force (the latest "
               "monthly snapshot on or before that day, 0 before the first) / 30.4375, summed over the window's "
               "days, so a steady MRR earns window_days / 30.4375 months of it, the months cost to serve charges "
               "the CSM for. Segment and portfolio: the mean per account (total margin / accounts).")

    def account_sql(self, params: dict) -> str:
        # Each snapshot is in force from its month (or the window's first day) to the day before the next one
        # (or the as-of date); the days it covers in the window earn its MRR / 30.4375 each.
        return f"""
            WITH cost (account_id, numerator, denominator, sample_size, value, details) AS (
                {super().account_sql(params)}
            ), in_force AS (
                SELECT r.account_id, r.mrr::float8 AS mrr,
                       greatest(r.month, %(as_of)s::date - (%(window_days)s::int - 1)) AS first_day,
                       coalesce(lead(r.month) OVER (PARTITION BY r.account_id ORDER BY r.month) - 1,
                                %(as_of)s::date) AS last_day
                FROM accounts_revenuesnapshot r
                WHERE r.month <= %(as_of)s::date AND r.account_id IN (SELECT account_id FROM cost)
            ), revenue AS (
                SELECT account_id, sum(mrr * (last_day - first_day + 1)) / {DAYS_PER_MONTH} AS revenue
                FROM in_force
                WHERE last_day >= first_day
                GROUP BY account_id
            )
            SELECT c.account_id, coalesce(r.revenue, 0) - c.value, 1, 1, coalesce(r.revenue, 0) - c.value,
                   c.details || jsonb_build_object('revenue', coalesce(r.revenue, 0), 'cost_to_serve', c.value)
            FROM cost c
            LEFT JOIN revenue r ON r.account_id = c.account_id
        """
