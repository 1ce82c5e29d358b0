"""Background work and cache entries stay in their tenant.

tests/test_isolation.py already proves that a task message carries the sending tenant's schema and that one
cache key holds a value per tenant; these tests prove the other halves: a worker runs the message in that
schema, fan-out reaches each tenant in its own schema, after-commit work keeps its tenant, and every cache
the settings configure is tenant-keyed.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from celery.signals import before_task_publish
from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django_tenants.utils import get_public_schema_name, schema_context

from accounts.models import Account
from config.celery import app as celery_app
from tenants.tasks import delay_in_each_tenant, on_commit_in_tenant
from tests.accounts.factories import AccountFactory


@celery_app.task(name="tests.hardening.schema_probe")
def schema_probe() -> tuple[str, list[str]]:
    """What a task sees: the schema it runs in and the accounts visible there."""
    return connection.schema_name, sorted(Account.objects.values_list("name", flat=True))


@contextmanager
def published_headers():
    """The headers of every message sent inside the block; the broker's queue is purged afterwards."""
    sent: list[dict] = []

    def record(sender, headers, **kwargs):
        if sender == schema_probe.name:
            sent.append(dict(headers))

    before_task_publish.connect(record, weak=False)
    try:
        yield sent
    finally:
        before_task_publish.disconnect(record)
        celery_app.control.purge()


def _run_as_worker(headers: dict) -> tuple[str, list[str]]:
    """Run the probe the way a worker does: from the public schema, with only the message's headers to go on."""
    connection.set_schema_to_public()
    return schema_probe.apply(headers=headers).get()


def test_a_task_sent_from_a_tenant_runs_in_that_tenants_schema(tenant, other_tenant):
    AccountFactory(name="Alpha Only")
    with schema_context(other_tenant.schema_name):
        AccountFactory(name="Bravo Only", owner=None)

    with published_headers() as sent:
        schema_probe.delay()
        with schema_context(other_tenant.schema_name):
            schema_probe.delay()

    assert [_run_as_worker(headers) for headers in sent] == [
        (tenant.schema_name, ["Alpha Only"]), (other_tenant.schema_name, ["Bravo Only"])]


def test_periodic_fan_out_sends_one_message_per_tenant_each_in_its_schema(tenant, other_tenant):
    with published_headers() as sent:
        count = delay_in_each_tenant(schema_probe)

    schemas = [headers["_schema_name"] for headers in sent]
    assert count == len(schemas)
    assert {tenant.schema_name, other_tenant.schema_name} <= set(schemas)
    assert get_public_schema_name() not in schemas
    assert len(set(schemas)) == len(schemas)


def test_a_sweep_is_sent_only_to_the_tenants_where_its_work_is_due(tenant, other_tenant):
    """A per-minute sweep of a thousand tenants would be a thousand tasks a minute; it goes where work waits."""
    from accounts.models import Account

    AccountFactory(name="Due Here")

    with published_headers() as sent:
        count = delay_in_each_tenant(schema_probe, only_where=lambda: Account.objects.filter(name="Due Here"))

    assert count == 1
    assert [headers["_schema_name"] for headers in sent] == [tenant.schema_name]
    assert [_run_as_worker(headers) for headers in sent] == [(tenant.schema_name, ["Due Here"])]


def test_after_commit_work_runs_in_the_tenant_that_registered_it(tenant, other_tenant,
                                                                  django_capture_on_commit_callbacks):
    AccountFactory(name="Alpha Only")
    seen: list[tuple[str, list[str]]] = []

    with django_capture_on_commit_callbacks(execute=True):
        on_commit_in_tenant(lambda: seen.append(schema_probe()))
        # The caller leaves alpha before the outermost transaction commits.
        connection.set_tenant(other_tenant)

    assert seen == [(tenant.schema_name, ["Alpha Only"])]


@pytest.mark.parametrize("alias", list(settings.CACHES))
def test_every_cache_is_keyed_by_tenant(alias):
    """A cache added later without the tenant key function would be shared by all tenants."""
    assert settings.CACHES[alias].get("KEY_FUNCTION") == "django_tenants.cache.make_key", alias


def test_the_same_cache_keys_hold_each_tenants_own_values(other_tenant):
    """Beyond get/set (tests/test_isolation.py): counters and bulk reads, as throttles use them."""
    cache = caches["default"]
    keys = {"hardening:counter": 0, "hardening:label": ""}
    try:
        cache.set_many({"hardening:counter": 1, "hardening:label": "alpha"}, 30)
        with schema_context(other_tenant.schema_name):
            assert cache.get_many(list(keys)) == {}
            cache.set_many({"hardening:counter": 100, "hardening:label": "bravo"}, 30)
            cache.incr("hardening:counter")
            assert cache.get_many(list(keys)) == {"hardening:counter": 101, "hardening:label": "bravo"}
        cache.incr("hardening:counter")
        assert cache.get_many(list(keys)) == {"hardening:counter": 2, "hardening:label": "alpha"}
    finally:
        cache.delete_many(list(keys))
        with schema_context(other_tenant.schema_name):
            cache.delete_many(list(keys))
