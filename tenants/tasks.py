"""The first level of periodic work: beat sends one task, which re-sends a task inside every tenant."""

from collections.abc import Callable

from celery import Task
from django.db.models import QuerySet
from django_tenants.utils import get_public_schema_name, get_tenant_model, tenant_context


def delay_in_each_tenant(task: Task, *, only_where: Callable[[], QuerySet] | None = None, **kwargs) -> int:
    """Send `task` once per tenant, from inside that tenant, so the worker runs it in its schema; returns how many.

    `only_where`: the query of the work a sweeper would do (the deliveries due, say): `task` goes only to the
    tenants where it finds a row. Checked here, one small query a tenant, rather than a task a tenant that mostly
    finds nothing: at a thousand tenants each per-minute sweep was a thousand tasks a minute.
    """
    count = 0
    for tenant in get_tenant_model().objects.exclude(schema_name=get_public_schema_name()):
        with tenant_context(tenant):
            if only_where is not None and not only_where().exists():
                continue
            task.delay(**kwargs)
        count += 1
    return count


def on_commit_in_tenant(callback, *, robust: bool = True) -> None:
    """Run `callback` after commit in the tenant that is current now, whatever schema the connection is in
    by then (a caller may have left the tenant's context before the outermost transaction commits)."""
    from django.db import connection, transaction

    tenant = connection.tenant

    def run() -> None:
        with tenant_context(tenant):
            callback()

    transaction.on_commit(run, robust=robust)
