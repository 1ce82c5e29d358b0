"""The test settings with one more tenant app, whose only migration the platform_migrate tests apply."""

from config.settings.test import *  # noqa: F403
from config.settings.test import INSTALLED_APPS, TENANT_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.tenants.throwaway"]
TENANT_APPS = [*TENANT_APPS, "tests.tenants.throwaway"]
