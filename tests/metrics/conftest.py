"""Metrics tests reuse the API-key fixtures of the integrations tests, plus a key that may configure."""

import pytest

from core.api.scopes import Scope
from tests.integrations.conftest import ingest_key, read_key  # noqa: F401
from tests.integrations.factories import ApiKeyFactory


@pytest.fixture
def admin_key():
    """Configuring KPIs goes with reading them."""
    return ApiKeyFactory(scopes=[Scope.READ, Scope.ADMIN])
