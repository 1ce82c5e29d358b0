from django.apps import AppConfig


class ThrowawayConfig(AppConfig):
    name = "tests.tenants.throwaway"
    label = "throwaway"
