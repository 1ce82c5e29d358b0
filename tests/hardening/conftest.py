"""Alpha's credentials and bravo's objects, shared by the hardening tests."""

from __future__ import annotations

import pytest

from core.api.scopes import Scope
from integrations.services import IssuedKey
from tests.conftest import TenantClient
from tests.hardening.bravo import World, ids_start_high
from tests.integrations.factories import ApiKeyFactory
from tests.users.factories import UserFactory
from users.models import Role


@pytest.fixture
def alpha_key() -> IssuedKey:
    """The strongest key alpha can issue: every scope."""
    return ApiKeyFactory(name="Alpha everything", scopes=[Scope.INGEST, Scope.READ, Scope.ADMIN])


@pytest.fixture
def alpha_admin_client(client) -> TenantClient:
    """Alpha's host, signed in as an alpha admin (the role that may open every page, the admin included)."""
    client.force_login(UserFactory(role=Role.ADMIN, email="alpha-admin@alpha.example"))
    return client


@pytest.fixture
def bravo(other_tenant) -> World:
    """Every registered bravo object, with ids no alpha row has."""
    ids_start_high(other_tenant.schema_name)
    world = World(other_tenant.schema_name)
    world.build_all()
    return world
