"""An NPS KPI over every scope and its answers: what the engine's storage and merging tests compute."""

import datetime as dt

from metrics.services import kpi_create
from tests.accounts.factories import SurveyResponseFactory


def nps_kpi():
    return kpi_create(slug="nps", name="NPS", calculator="surveys.nps", params={"window_days": 30},
                      definition="Promoters minus detractors.", tier="advocacy", indicator="lagging", unit="score",
                      scopes=["account", "segment", "portfolio"])


def nps_answer(account, score: int, day: int = 10) -> None:
    """An answer of November `day`, 2026, within the 30-day window of 2026-11-20."""
    SurveyResponseFactory(account=account, kind="nps", score=score,
                          responded_at=dt.datetime(2026, 11, day, 12, tzinfo=dt.UTC))
