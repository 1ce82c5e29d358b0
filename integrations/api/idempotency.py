"""`Idempotency-Key` on a POST: the first response is stored with the change it describes, in the same
transaction, and a retry gets that response back instead of applying the request twice."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps

import orjson
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from integrations.models import ApiKey, IdempotentRequest
from integrations.services import idempotent_request_store
from integrations.validation import InvalidInput

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200


def _stored(request: Request, key: str) -> IdempotentRequest | None:
    caller = {"api_key": request.auth} if isinstance(request.auth, ApiKey) else {"user": request.user}
    return IdempotentRequest.objects.filter(key=key, **caller).first()


def _replay(request: Request, stored: IdempotentRequest, fingerprint: str) -> HttpResponse:
    if stored.fingerprint != fingerprint or stored.path != request.path or stored.method != request.method:
        raise InvalidInput(f"The {HEADER} {stored.key!r} was already used for a different request; "
                           "use a new key for new data.", status_code=422)
    response = HttpResponse(bytes(stored.response_body), status=stored.status_code, content_type="application/json")
    response["Idempotent-Replayed"] = "true"
    return response


def idempotent(handler: Callable) -> Callable:
    """Decorate a view's `post`. Only successful responses are stored: a rejected request changed nothing,
    so retrying it (corrected or not) is already harmless."""

    @wraps(handler)
    def wrapper(view, request: Request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return handler(view, request, *args, **kwargs)
        if not key.strip() or len(key) > MAX_KEY_LENGTH:
            raise InvalidInput(f"{HEADER} must be 1-{MAX_KEY_LENGTH} characters.")
        fingerprint = hashlib.sha256(request.body).hexdigest()
        stored = _stored(request, key)
        if stored is not None:
            return _replay(request, stored, fingerprint)
        try:
            with transaction.atomic():
                response: Response = handler(view, request, *args, **kwargs)
                if 200 <= response.status_code < 300:
                    idempotent_request_store(
                        key=key, api_key=request.auth if isinstance(request.auth, ApiKey) else None,
                        user=request.user, method=request.method, path=request.path, fingerprint=fingerprint,
                        status_code=response.status_code, body=orjson.dumps(response.data),
                    )
        except IntegrityError:
            # A concurrent request with the same key won the race; ours was rolled back whole.
            stored = _stored(request, key)
            if stored is None:
                raise
            return _replay(request, stored, fingerprint)
        return response

    return wrapper
