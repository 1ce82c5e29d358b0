"""The Celery app. tenant-schemas-celery's CeleryApp carries the sending tenant's schema in each message,
so a task runs in the tenant it was sent from; a plain Celery() app would run it in the public schema."""

import os

from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

app = CeleryApp("bellwether")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
