"""Survey KPIs: NPS, CSAT and CES over the answers in a trailing window of days ending on the as-of date."""

from __future__ import annotations

from metrics.calculators.base import ACCOUNTS_FILTER, Calculator, Param, accounts_filter, register

WINDOW = Param(int, default=90, minimum=1, maximum=730, help="Days of answers, ending on the as-of date.")

_ANSWERS = f"""
    SELECT a.id AS account_id, s.score
    FROM accounts_account a
    JOIN accounts_surveyresponse s ON s.account_id = a.id
    WHERE s.kind = %(kind)s
      AND s.responded_at >= (%(as_of)s::date - (%(window_days)s - 1))::timestamp AT TIME ZONE %(tz)s
      AND s.responded_at < (%(as_of)s::date + 1)::timestamp AT TIME ZONE %(tz)s
      AND {ACCOUNTS_FILTER} AND {accounts_filter("s.account_id")}
"""


class SurveyCalculator(Calculator):
    kind: str
    params = {"window_days": WINDOW}

    def sql_params(self, **kwargs) -> dict:
        return {**super().sql_params(**kwargs), "kind": self.kind}


@register
class NetPromoterScore(SurveyCalculator):
    id = "surveys.nps"
    name = "Net Promoter Score"
    kind = "nps"
    scale = 100.0
    formula = ("NPS = % promoters (9-10) - % detractors (0-6) among the 0-10 answers of the last "
               "window_days days; passives (7-8) count in the denominator. From -100 to 100.")

    def account_sql(self, params: dict) -> str:
        return f"""
            SELECT account_id,
                   count(*) FILTER (WHERE score >= 9) - count(*) FILTER (WHERE score <= 6),
                   count(*), count(*), NULL,
                   jsonb_build_object('promoters', count(*) FILTER (WHERE score >= 9),
                                      'passives', count(*) FILTER (WHERE score BETWEEN 7 AND 8),
                                      'detractors', count(*) FILTER (WHERE score <= 6))
            FROM ({_ANSWERS}) answers GROUP BY account_id
        """


@register
class CustomerSatisfaction(SurveyCalculator):
    id = "surveys.csat"
    name = "Customer satisfaction (CSAT)"
    kind = "csat"
    scale = 100.0
    formula = "CSAT = answers of 4 or 5 / all 1-5 answers of the last window_days days, as a percentage."

    def account_sql(self, params: dict) -> str:
        return f"""
            SELECT account_id, count(*) FILTER (WHERE score >= 4), count(*), count(*), NULL, NULL
            FROM ({_ANSWERS}) answers GROUP BY account_id
        """


@register
class CustomerEffortScore(SurveyCalculator):
    id = "surveys.ces"
    name = "Customer effort score (CES)"
    kind = "ces"
    scale = 1.0
    formula = ("CES = the mean of the 1-7 answers of the last window_days days (7 = very easy, so higher "
               "is better).")

    def account_sql(self, params: dict) -> str:
        return f"""
            SELECT account_id, sum(score), count(*), count(*), NULL, NULL
            FROM ({_ANSWERS}) answers GROUP BY account_id
        """
