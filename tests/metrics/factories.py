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
