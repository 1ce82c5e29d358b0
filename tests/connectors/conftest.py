"""Fixtures for the connectors: a write key and a way to call Segment's endpoints as its libraries do."""

from __future__ import annotations

import base64
import gzip

import orjson
import pytest

from integrations.models import Scope
from integrations.services import IssuedKey
from tests.integrations.factories import ApiKeyFactory


@pytest.fixture
def write_key() -> IssuedKey:
    return ApiKeyFactory(name="Segment", scopes=[Scope.INGEST])


def basic(secret: str) -> dict[str, str]:
    """HTTP Basic with the write key as the user name and an empty password, as Segment's libraries send it."""
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{secret}:".encode()).decode()}


def segment_post(client, call: str, payload, key: IssuedKey | None = None, *, compress: bool = False, **extra):
    """POST `payload` to /api/segment/v1/<call> (bytes as they are), gzip-compressed if asked."""
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    if compress:
        body = gzip.compress(body)
        extra["HTTP_CONTENT_ENCODING"] = "gzip"
    return client.post(f"/api/segment/v1/{call}", body, content_type="application/json",
                       **(basic(key.secret) if key else {}), **extra)
