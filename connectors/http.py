"""What every inbound connector endpoint does with a request before its own mapping: a bounded body (gzip
decoded with a bound, so a small bomb cannot fill memory), JSON, and a refusal that says why in a JSON body
both Bellwether's clients (`detail`, `errors`) and Segment's (`code`, `message`) read; every call is logged
for the connector's page."""

from __future__ import annotations

import math
import zlib
from datetime import datetime

import orjson
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from rest_framework.throttling import SimpleRateThrottle

from connectors.models import ConnectorCall
from core.api.body import nul_refused
from core.errors import InvalidInput

CODES = {400: "invalid_request", 401: "unauthorized", 403: "forbidden", 413: "request_too_large",
         415: "unsupported_media_type", 429: "rate_limited"}


class Refusal(Exception):
    """A call refused with a status and a reason; `errors` lists problems by item, `headers` go on the answer."""

    def __init__(self, status: int, reason: str, errors: list[dict] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.errors = errors or []
        self.headers = headers or {}

    def response(self) -> JsonResponse:
        body = {"code": CODES.get(self.status, "refused"), "message": self.reason, "detail": self.reason}
        if self.errors:
            body["errors"] = self.errors
        response = JsonResponse(body, status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        return response


def _gunzip(data: bytes, limit: int) -> bytes:
    decoder = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        body = decoder.decompress(data, limit + 1)
    except zlib.error as error:
        raise Refusal(400, f"The body is not valid gzip: {error}.") from None
    if len(body) > limit or decoder.unconsumed_tail:
        raise Refusal(413, f"The body decompresses to more than {limit:,} bytes, the limit.")
    if not decoder.eof:
        raise Refusal(400, "The gzip body is truncated.")
    if decoder.unused_data.strip(b"\0"):
        raise Refusal(400, "The gzip body has data after its end; send one gzip stream.")
    return body


def body_read(request: HttpRequest, *, limit: int) -> bytes:
    """The request body, decompressed when `Content-Encoding: gzip`; 413 past `limit` bytes either way."""
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > limit:
        raise Refusal(413, f"The body is {length:,} bytes; the limit is {limit:,}. Send smaller batches.")
    data = request.body
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return data
    if encoding == "gzip":
        return _gunzip(data, limit)
    raise Refusal(415, f"Unsupported Content-Encoding {encoding!r}; send the body as it is or gzip-compressed.")


def refusal_of(invalid: InvalidInput) -> Refusal:
    """A service's refusal (a batch the ingest services rejected, a value out of bounds) as the vendor reads it."""
    return Refusal(invalid.status_code, invalid.detail, invalid.errors)


def json_object(body: bytes) -> dict:
    """The body as a JSON object; refused when it is not one, or holds a NUL character anywhere (PostgreSQL
    can store none, in text or jsonb: a held call keeps the whole body)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise Refusal(400, f"The body is not valid JSON: {error}.") from None
    if not isinstance(document, dict):
        raise Refusal(400, "The body must be a JSON object.")
    if b"\\u0000" in body:
        try:
            nul_refused(document)
        except InvalidInput as invalid:
            raise refusal_of(invalid) from None
    return document


class KeyThrottle(SimpleRateThrottle):
    """Requests per API key to the connector endpoints (`CONNECTOR_RATE_LIMIT`), in the tenant-aware cache."""

    scope = "connector"

    def get_rate(self) -> str:
        return settings.CONNECTOR_RATE_LIMIT

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": request.connector_key_id}


def throttle_check(request: HttpRequest, key_id: int) -> None:
    """429 with Retry-After when the key is over its rate: the tracking libraries wait that long and retry."""
    request.connector_key_id = key_id
    throttle = KeyThrottle()
    if not throttle.allow_request(request, None):
        wait = max(1, math.ceil(throttle.wait() or 1))
        raise Refusal(429, f"Over the rate limit of {settings.CONNECTOR_RATE_LIMIT} for this key; retry in {wait} s.",
                      headers={"Retry-After": str(wait)})


UNAUTHENTICATED_KEPT = 20
UNAUTHENTICATED_SECONDS = 24 * 3600


def _unauthenticated_key(connector: str) -> str:
    return f"connectors:unauthenticated:{connector}"


def call_log(*, connector: str, status: int, summary: str, authenticated: bool = True, api_key=None) -> None:
    """Record a call for the connector's page. A call nobody authenticated (no key, a bad signature) writes no
    row: anyone can send one, and no stranger may write into a tenant. The last few are kept in the
    (tenant-aware) cache instead, since a wrong key or secret is what an admin setting up needs to see."""
    if authenticated:
        ConnectorCall.objects.create(connector=connector, status_code=status, summary=summary[:1000], api_key=api_key)
        return
    entry = {"received_at": timezone.now().isoformat(), "status_code": status, "summary": summary[:300]}
    kept = cache.get(_unauthenticated_key(connector)) or []
    cache.set(_unauthenticated_key(connector), [entry, *kept][:UNAUTHENTICATED_KEPT], UNAUTHENTICATED_SECONDS)


def unauthenticated_calls(connector: str) -> list[dict]:
    """The last calls refused before anyone was authenticated, newest first."""
    return [{**entry, "received_at": datetime.fromisoformat(entry["received_at"])}
            for entry in cache.get(_unauthenticated_key(connector)) or []]


def json_answer(body: dict) -> JsonResponse:
    """Exactly 200: RudderStack's library treats any other success code as a failure and sends again."""
    return JsonResponse(body, status=200)
