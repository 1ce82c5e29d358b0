"""The tenant harness: two tenants created once per test session, the first activated for every test.

Creating a tenant per test class costs about a second each; instead the session creates `alpha` (the
tenant every test runs in) and `bravo` (the other tenant, for isolation tests) once, and every test
runs inside a transaction that is rolled back.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context
from hypothesis import settings as hypothesis_settings

from core.api.scopes import Scope
from integrations.services import IssuedKey
from tenants.models import Tenant
from tenants.services import platform_migrate, tenant_create, tenant_host
from tests.integrations.factories import ApiKeyFactory
from tests.realstack import celery_worker_process  # noqa: F401 - a fixture for every test package

# Property tests explore the same examples on every run, so CI is repeatable; a failure found by a
# developer's exploration is pinned with @example.
hypothesis_settings.register_profile("bellwether", derandomize=True, database=None)
hypothesis_settings.load_profile("bellwether")

PASSWORD = "correct-horse-battery"
TENANT_SLUG = "alpha"
OTHER_TENANT_SLUG = "bravo"


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    from django.core.cache import cache

    # The test Redis database outlives runs: counters a run leaves (failed sign-ins, rate limits) must not
    # throttle the next one.
    cache.clear()
    with django_db_blocker.unblock():
        platform_migrate()
        for slug in (TENANT_SLUG, OTHER_TENANT_SLUG):
            created = tenant_create(slug=slug, name=slug.title(), admin_email=f"admin@{slug}.example",
                                    admin_password=PASSWORD)
            # Tests define the KPIs (and rules and playbooks) they need; the defaults themselves are tested on a
            # tenant of their own.
            with schema_context(created.tenant.schema_name):
                from metrics.models import KPI
                from playbooks.models import Playbook

                Playbook.objects.all().delete()
                KPI.objects.all().delete()
        connection.set_schema_to_public()


@pytest.fixture
def tenant(db) -> Tenant:
    return Tenant.objects.get(slug=TENANT_SLUG)


@pytest.fixture
def other_tenant(db) -> Tenant:
    return Tenant.objects.get(slug=OTHER_TENANT_SLUG)


@pytest.fixture(autouse=True)
def _in_tenant(request, db, tenant):
    """Every test runs in the `alpha` tenant unless it switches; the public schema is restored after."""
    connection.set_tenant(tenant)
    yield
    connection.set_schema_to_public()


class TenantClient(Client):
    """A test client that reaches one tenant by its host name, as a browser would."""

    def __init__(self, tenant: Tenant, **defaults) -> None:
        super().__init__(HTTP_HOST=tenant_host(tenant.slug), **defaults)
        self.tenant = tenant

    def request(self, **request):
        # The middleware switches the shared connection to the request's tenant; put it back afterwards
        # so the test's own queries keep running where the test expects.
        previous = connection.tenant
        try:
            return super().request(**request)
        finally:
            connection.set_tenant(previous)


@pytest.fixture
def client(tenant) -> TenantClient:
    return TenantClient(tenant)


@pytest.fixture
def other_client(other_tenant) -> TenantClient:
    return TenantClient(other_tenant)


@pytest.fixture
def public_client() -> Client:
    from django.conf import settings

    return Client(HTTP_HOST=settings.BASE_DOMAIN)


def login(client: TenantClient, user) -> TenantClient:
    """Sign `user` in through the login form, as a person would."""
    response = client.post("/login/", {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content[:500]
    return client


@pytest.fixture
def in_other_tenant(other_tenant):
    """A context manager factory that runs a block in the `bravo` tenant's schema."""
    return lambda: schema_context(other_tenant.schema_name)


# --- API keys of each scope, for the API tests of every app -------------------------------------------------


@pytest.fixture
def ingest_key() -> IssuedKey:
    return ApiKeyFactory(scopes=[Scope.INGEST, Scope.READ])


@pytest.fixture
def read_key() -> IssuedKey:
    return ApiKeyFactory(scopes=[Scope.READ])


@pytest.fixture
def admin_key() -> IssuedKey:
    return ApiKeyFactory(scopes=[Scope.ADMIN])
