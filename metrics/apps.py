from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = "Metrics"

    def ready(self) -> None:
        from metrics import calculators, receivers  # noqa: F401 - registers calculators and signal receivers
