"""A way to post JSON with an API key (the keys of each scope are fixtures of tests/conftest.py)."""

from __future__ import annotations

import orjson

from integrations.services import IssuedKey
from tests.integrations.factories import bearer


def post_json(client, path: str, payload, key: IssuedKey | None = None, **extra):
    """POST `payload` as JSON (bytes are sent as they are), with `key` as the bearer when given."""
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return client.post(path, body, content_type="application/json", **(bearer(key) if key else {}), **extra)
