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

from core.errors import InvalidInput
from integrations.models import ApiKey, IdempotentRequest
from integrations.services import idempotent_request_store

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


def body_fingerprint(request: Request) -> str:
    return hashlib.sha256(request.body).hexdigest()


def upload_fingerprint(request: Request) -> str:
    """A multipart body differs on every retry (a new boundary); the uploaded files and fields do not."""
    digest = hashlib.sha256()
    for name, value in sorted(request.POST.items()):
        digest.update(f"{name}={value}\n".encode())
    for name, upload in sorted(request.FILES.items()):
        digest.update(name.encode())
        for chunk in upload.chunks():
            digest.update(chunk)
        upload.seek(0)
    return digest.hexdigest()


def idempotent(handler: Callable | None = None, *, fingerprint: Callable[[Request], str] = body_fingerprint,
               stored_body: Callable[[dict], dict] | None = None) -> Callable:
    """Decorate a view's `post`. Only successful responses are stored: a rejected request changed nothing,
    so retrying it (corrected or not) is already harmless. `stored_body` redacts what must not be kept
    (an API key's secret): a replay then says the secret was already shown."""

    def decorate(handler: Callable) -> Callable:
        @wraps(handler)
        def wrapper(view, request: Request, *args, **kwargs):
            key = request.headers.get(HEADER)
            if key is None:
                return handler(view, request, *args, **kwargs)
            if not key.strip() or len(key) > MAX_KEY_LENGTH:
                raise InvalidInput(f"{HEADER} must be 1-{MAX_KEY_LENGTH} characters.")
            request_fingerprint = fingerprint(request)
            stored = _stored(request, key)
            if stored is not None:
                return _replay(request, stored, request_fingerprint)
            try:
                with transaction.atomic():
                    response: Response = handler(view, request, *args, **kwargs)
                    if 200 <= response.status_code < 300:
                        body = stored_body(response.data) if stored_body else response.data
                        idempotent_request_store(
                            key=key, api_key=request.auth if isinstance(request.auth, ApiKey) else None,
                            user=request.user, method=request.method, path=request.path,
                            fingerprint=request_fingerprint, status_code=response.status_code,
                            body=orjson.dumps(body),
                        )
            except IntegrityError:
                # A concurrent request with the same key won the race; ours was rolled back whole.
                stored = _stored(request, key)
                if stored is None:
                    raise
                return _replay(request, stored, request_fingerprint)
            return response

        return wrapper

    return decorate(handler) if handler is not None else decorate
