"""Reviews tests: a team (leader, admin, KPI owner, CSMs, a viewer), KPIs with values and targets around
2026-Q4, and an admin key that may also read (the other keys are fixtures of tests/conftest.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from core.api.scopes import Scope
from metrics.models import KPITarget, MetricValue
from tests.integrations.factories import ApiKeyFactory
from tests.metrics.factories import KPIFactory
from tests.users.factories import UserFactory
from users.models import Role


@pytest.fixture
def admin_key():
    return ApiKeyFactory(scopes=[Scope.READ, Scope.ADMIN])


@pytest.fixture
def team():
    leader = UserFactory(role=Role.LEADER, full_name="Lena Leader")
    return {
        "leader": leader,
        "admin": UserFactory(role=Role.ADMIN, full_name="Ada Admin"),
        "manager": UserFactory(role=Role.MANAGER, full_name="Max Manager"),
        "csm": UserFactory(role=Role.CSM, full_name="Cleo Csm"),
        "other_csm": UserFactory(role=Role.CSM, full_name="Otto Other"),
        "viewer": UserFactory(role=Role.VIEWER, full_name="Vic Viewer"),
        "kpi_owner": UserFactory(role=Role.MANAGER, full_name="Kim Owner"),
    }


def value(kpi, as_of: dt.date, number: float | None, *, dimension: str = "", segment: str = "", version: int = 1):
    """A stored portfolio (or segment) value of the KPI."""
    return MetricValue.objects.create(kpi=kpi, kpi_version=version, scope="segment" if dimension else "portfolio",
                                      dimension=dimension, segment=segment, as_of=as_of, value=number)


@pytest.fixture
def kpis(team):
    """NPS (higher is better, off track in 2026-Q4), churn (lower is better, at risk) and GRR (on track)."""
    nps = KPIFactory(slug="nps", name="NPS", direction="higher", owner=team["kpi_owner"], version=2)
    churn = KPIFactory(slug="churn", name="Logo churn", direction="lower", unit="percent")
    grr = KPIFactory(slug="grr", name="GRR", direction="higher", unit="percent")
    value(nps, dt.date(2026, 9, 30), 25, version=2)
    value(nps, dt.date(2026, 11, 30), 35, version=2)
    value(nps, dt.date(2026, 12, 31), 30, version=2)
    value(nps, dt.date(2027, 1, 5), 50, version=2)  # next quarter: not in the Q4 snapshot
    value(nps, dt.date(2026, 12, 31), 12, dimension="plan", segment="Growth", version=2)
    value(churn, dt.date(2026, 9, 30), 5.0)
    value(churn, dt.date(2026, 12, 31), 5.2)
    value(grr, dt.date(2026, 9, 30), 93.0)
    value(grr, dt.date(2026, 12, 31), 93.1)
    for kpi, target in ((nps, 40), (churn, 5), (grr, 92)):
        KPITarget.objects.create(kpi=kpi, period="2026-Q4", value=target, reason="Plan")
    return {"nps": nps, "churn": churn, "grr": grr}
