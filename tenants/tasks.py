"""The first level of periodic work: beat sends one task, which re-sends a task inside every tenant."""

from celery import Task
from django_tenants.utils import get_public_schema_name, get_tenant_model, tenant_context


def delay_in_each_tenant(task: Task, **kwargs) -> int:
    """Send `task` once per tenant, from inside that tenant, so the worker runs it in its schema."""
    count = 0
    for tenant in get_tenant_model().objects.exclude(schema_name=get_public_schema_name()):
        with tenant_context(tenant):
            task.delay(**kwargs)
        count += 1
    return count
