"""Segment's and RudderStack's own libraries against a live server of a tenant of its own (`clients`): the
harness is tests/livetenant.py; here every test's rows are committed, so the server thread sees them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.connectors.live.proxy import LossyProxy
from tests.livetenant import LiveTenant, committed_db, live_tenant_served, localhost_names_resolved  # noqa: F401

LIVE_SLUG = "clients"


@pytest.fixture(scope="package")
def live_tenant(django_db_setup, django_db_blocker) -> Iterator[LiveTenant]:
    with live_tenant_served(LIVE_SLUG, "Clients", django_db_blocker) as served:
        yield served


@pytest.fixture
def db(live_tenant: LiveTenant, django_db_blocker) -> Iterator[None]:
    """Committed, in the `clients` tenant, emptied after the test (replaces pytest-django's `db`)."""
    with committed_db(live_tenant, django_db_blocker):
        yield


@pytest.fixture(autouse=True)
def _in_tenant(db, localhost_names_resolved) -> None:  # noqa: F811 - the fixture of tests/livetenant.py
    """Replaces the suite's fixture that puts every test in `alpha`: every test here runs in `clients`."""


@pytest.fixture
def lossy_proxy(live_tenant: LiveTenant) -> Iterator[LossyProxy]:
    proxy = LossyProxy(upstream_port=int(live_tenant.url.rsplit(":", 1)[1]))
    yield proxy
    proxy.close()
