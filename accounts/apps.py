from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Customer accounts"

    def ready(self) -> None:
        from accounts import (
            ingestion,  # noqa: F401 - registers the kinds of data the CSV import takes
            receivers,  # noqa: F401 - connects the signal receivers
        )
