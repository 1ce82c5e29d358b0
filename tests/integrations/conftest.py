"""Fixtures for the integrations API: keys of each scope and a way to post JSON with one."""

from __future__ import annotations

import orjson
import pytest

from core.api.scopes import Scope
from integrations.services import IssuedKey
from tests.integrations.factories import ApiKeyFactory, bearer


@pytest.fixture
def ingest_key() -> IssuedKey:
    return ApiKeyFactory(scopes=[Scope.INGEST, Scope.READ])


@pytest.fixture
def read_key() -> IssuedKey:
    return ApiKeyFactory(scopes=[Scope.READ])


@pytest.fixture
def admin_key() -> IssuedKey:
    return ApiKeyFactory(scopes=[Scope.ADMIN])


def post_json(client, path: str, payload, key: IssuedKey | None = None, **extra):
    """POST `payload` as JSON (bytes are sent as they are), with `key` as the bearer when given."""
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return client.post(path, body, content_type="application/json", **(bearer(key) if key else {}), **extra)
