"""Metrics tests use the API-key fixtures of tests/conftest.py, with an admin key that may also read."""

import pytest

from core.api.scopes import Scope
from tests.integrations.factories import ApiKeyFactory


@pytest.fixture
def admin_key():
    """Configuring KPIs goes with reading them."""
    return ApiKeyFactory(scopes=[Scope.READ, Scope.ADMIN])
