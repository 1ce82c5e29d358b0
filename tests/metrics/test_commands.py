"""`kpi_compute` and `kpi_backfill`: on demand, for one tenant, with clear refusals."""

import datetime as dt

import pytest
from django.core.management import CommandError, call_command

from metrics.models import ComputationRun, MetricValue
from metrics.services import kpi_create
from tests.accounts.factories import AccountFactory, SurveyResponseFactory


@pytest.fixture
def nps():
    kpi = kpi_create(slug="nps", name="NPS", calculator="surveys.nps", params={"window_days": 30}, definition="d",
                     tier="advocacy", indicator="lagging", unit="score")
    SurveyResponseFactory(account=AccountFactory(), kind="nps", score=9,
                          responded_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    return kpi


def test_kpi_compute_command_computes_the_named_kpi_for_the_date(nps, capsys):
    call_command("kpi_compute", tenant="alpha", kpi=["nps"], as_of="2026-11-10")

    assert "succeeded" in capsys.readouterr().out
    assert MetricValue.objects.get(kpi=nps, scope="portfolio", as_of=dt.date(2026, 11, 10)).value == 100
    assert ComputationRun.objects.get().trigger == ComputationRun.Trigger.MANUAL


def test_kpi_backfill_fills_every_day_of_the_range(nps):
    call_command("kpi_backfill", tenant="alpha", kpi=["nps"], start="2026-11-01", end="2026-11-05", verbosity=0)

    days = set(MetricValue.objects.filter(kpi=nps, scope="portfolio").values_list("as_of", flat=True))
    assert days == {dt.date(2026, 11, day) for day in range(1, 6)}
    assert ComputationRun.objects.filter(trigger=ComputationRun.Trigger.BACKFILL).count() == 5


@pytest.mark.parametrize(("command", "options", "message"), [
    ("kpi_compute", {"tenant": "nobody"}, "No tenant"),
    ("kpi_compute", {"tenant": "alpha", "kpi": ["nope"]}, "Unknown KPI"),
    ("kpi_compute", {"tenant": "alpha", "as_of": "11/10/2026"}, "YYYY-MM-DD"),
    ("kpi_backfill", {"tenant": "alpha", "kpi": ["nps"], "start": "2026-11-05", "end": "2026-11-01"}, "before"),
    ("kpi_backfill", {"tenant": "alpha", "kpi": ["nps"], "start": "2020-01-01", "end": "2026-01-01"}, "At most"),
])
def test_commands_refuse_bad_input(nps, command, options, message):
    with pytest.raises(CommandError, match=message):
        call_command(command, verbosity=0, **options)
    assert not MetricValue.objects.exists()
