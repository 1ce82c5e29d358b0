import factory

from metrics.models import KPI


class KPIFactory(factory.django.DjangoModelFactory):
    """A KPI row; tests that need a recorded version go through metrics.services.kpi_create instead."""

    class Meta:
        model = KPI

    slug = factory.Sequence(lambda n: f"kpi-{n}")
    name = factory.Sequence(lambda n: f"KPI {n}")
    definition = "A test KPI."
    tier = "advocacy"
    indicator = "lagging"
    calculator = "surveys.nps"
    params = factory.LazyFunction(lambda: {"window_days": 90})
    scopes = factory.LazyFunction(lambda: ["account", "segment", "portfolio"])
    unit = "score"


def seat_use_story():
    """Seat utilisation over the last 10 days: Initech below 20% for the last 5 days (35% before), Globex at 60%
    throughout; the portfolio at 40%. What an alert rule "below 20" would have fired on: Initech alone."""
    import datetime as dt

    from django.utils import timezone

    from metrics.models import MetricValue
    from metrics.services import kpi_create
    from tests.accounts.factories import AccountFactory

    kpi = kpi_create(slug="seat-utilization", name="Seat utilisation", calculator="usage.seat_utilization",
                     definition="d", tier="adoption", indicator="leading", unit="percent")
    initech, globex = AccountFactory(name="Initech"), AccountFactory(name="Globex")
    today = timezone.localdate()
    for back in range(10):
        day = today - dt.timedelta(days=back)
        MetricValue.objects.create(kpi=kpi, kpi_version=1, scope="portfolio", as_of=day, value=40)
        MetricValue.objects.create(kpi=kpi, kpi_version=1, scope="account", account=initech, as_of=day,
                                   value=10 if back < 5 else 35)
        MetricValue.objects.create(kpi=kpi, kpi_version=1, scope="account", account=globex, as_of=day, value=60)
    return kpi
