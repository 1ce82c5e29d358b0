"""A tenant of its own served by a live WSGI server thread, for tests whose client is a real program (a
browser, a vendor's library) talking HTTP to the app.

Why a tenant of its own: the server answers in another thread, on another database connection, so it sees
only committed rows. The rest of the suite runs each test in a rolled-back transaction of the session's
`alpha` tenant, and pytest-django's `live_server` fixture would instead flush the whole database after each
test, deleting `alpha` and `bravo` with it. Here a tenant (schema, domain) is created for a package and served
by pytest-django's live server thread (its `LiveServer`, without the flush); the package's `db` fixture
(`committed_db`) means autocommit in that tenant, its rows are truncated after each test, and the tenant and
its schema are dropped when the package is done. The other tenants are never touched.

A tenant's host is `<slug>.localhost`, which browsers resolve to this machine but the C library does not:
`localhost_names_resolved` maps those names to 127.0.0.1 in this process, as Chromium's host resolver rules
do for the browser tests, so a library pointed at `http://<slug>.localhost:<port>` sends the tenant's Host.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from django.db import connection

from tenants.models import Tenant
from tenants.services import tenant_create, tenant_host
from tests.conftest import PASSWORD

# Tables that tenant creation fills and no test changes; everything else is emptied after each test.
KEPT_TABLES = ("django_migrations", "django_content_type", "auth_permission")


@dataclass(frozen=True)
class LiveTenant:
    """A tenant served by the live server: its row and the URL its host is reached at (no trailing slash)."""

    tenant: Tenant
    url: str


def tenant_drop(slug: str) -> None:
    connection.set_schema_to_public()
    for leftover in Tenant.objects.filter(slug=slug):
        leftover.delete(force_drop=True)


def tenant_data_clear(tenant: Tenant) -> None:
    """Empty every table of the tenant's schema but the ones tenant creation filled; one statement."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s AND NOT tablename = ANY(%s)",
                       [tenant.schema_name, list(KEPT_TABLES)])
        tables = ", ".join(f'"{tenant.schema_name}"."{name}"' for (name,) in cursor.fetchall())
        cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@contextmanager
def live_tenant_served(slug: str, name: str, django_db_blocker) -> Iterator[LiveTenant]:
    """Create the tenant `slug` (empty), serve the app on a free port, and drop the tenant afterwards."""
    from pytest_django.live_server_helper import LiveServer

    with django_db_blocker.unblock():
        # Tenants are made and dropped here: never anywhere but in a test database.
        db_name = connection.settings_dict["NAME"]
        assert db_name == connection.settings_dict.get("TEST", {}).get("NAME") or db_name.startswith("test_"), \
            f"the live tenant harness refuses to make and drop tenants in {db_name!r}: not a test database"
        tenant_drop(slug)  # left by an interrupted run on a kept test database
        tenant = tenant_create(slug=slug, name=name, admin_email=f"admin@{slug}.example",
                               admin_password=PASSWORD).tenant
        tenant_data_clear(tenant)
        connection.set_schema_to_public()
    server = LiveServer("127.0.0.1")
    try:
        # django-tenants routes by host name without the port, so the tenant's own Domain row matches.
        yield LiveTenant(tenant=tenant, url=f"http://{tenant_host(tenant.slug)}:{server.thread.port}")
    finally:
        server.stop()
        with django_db_blocker.unblock():
            tenant_drop(slug)


@contextmanager
def committed_db(live_tenant: LiveTenant, django_db_blocker) -> Iterator[None]:
    """Database access that commits, in the live tenant, emptied afterwards (see the module docstring)."""
    with django_db_blocker.unblock():
        connection.set_tenant(live_tenant.tenant)
        try:
            yield
        finally:
            connection.set_tenant(live_tenant.tenant)
            tenant_data_clear(live_tenant.tenant)
            connection.set_schema_to_public()


@pytest.fixture
def localhost_names_resolved(monkeypatch) -> None:
    """`*.localhost` resolves to 127.0.0.1 in this process (RFC 6761 reserves it for loopback)."""
    resolve = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
