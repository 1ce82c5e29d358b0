from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "connectors"
    verbose_name = "Connectors"

    def ready(self) -> None:
        from connectors import receivers  # noqa: F401 - connects the signal receivers
        from connectors.selectors import held_calls_report
        from integrations.selectors import data_health_report_register

        data_health_report_register(held_calls_report)
