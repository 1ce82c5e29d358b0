"""Writes for integrations: issuing and revoking API keys, recording batches and idempotent replies."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import models, transaction
from django.utils import timezone

from core.api.scopes import Scope
from core.signals import changed_by_update
from integrations.models import ApiKey, IdempotentRequest, IngestBatch
from integrations.validation import BatchRejected

KEY_PREFIX_LENGTH = 8
# Read-only keys stay usable while last_used_at is only rewritten this often, not on every request.
LAST_USED_RESOLUTION_SECONDS = 60


class ApiKeyError(Exception):
    """An API key cannot be issued as asked; the message says why."""


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    secret: str


def hash_secret(secret: str) -> str:
    # Keys carry 256 bits of randomness, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(raw: str | list[str]) -> list[str]:
    scopes = [s.strip() for s in (raw.split(",") if isinstance(raw, str) else raw) if s.strip()]
    unknown = sorted(set(scopes) - set(Scope.values))
    if not scopes:
        raise ApiKeyError(f"An API key needs at least one scope: {', '.join(Scope.values)}.")
    if unknown:
        raise ApiKeyError(f"Unknown scope(s) {', '.join(unknown)}; choose from {', '.join(Scope.values)}.")
    return sorted(set(scopes), key=Scope.values.index)


@transaction.atomic
def api_key_create(*, name: str, scopes: str | list[str], created_by=None) -> IssuedKey:
    """Issue a key; the returned secret is the only time it is ever visible."""
    name = name.strip()
    if not name:
        raise ApiKeyError("An API key needs a name that says which integration uses it.")
    scope_list = parse_scopes(scopes)
    prefix = secrets.token_hex(KEY_PREFIX_LENGTH // 2)
    secret = f"bw_{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        name=name, prefix=prefix, hashed_secret=hash_secret(secret), scopes=scope_list, created_by=created_by
    )
    return IssuedKey(api_key=api_key, secret=secret)


def api_key_revoke(*, api_key: ApiKey) -> bool:
    """Revoke a key at once; returns False if it was already revoked."""
    now = timezone.now()
    if ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=now) != 1:
        return False
    changed_by_update.send(sender=ApiKey, instance=api_key, action="revoked", changes={"revoked_at": now})
    return True


def api_key_authenticate(*, secret: str) -> ApiKey | None:
    """The active key of the current tenant matching `secret`, or None; marks it used."""
    # The random part is URL-safe base64, which has "_" in its alphabet: split off the prefix only.
    parts = secret.split("_", 2)
    if len(parts) != 3 or parts[0] != "bw" or len(parts[1]) != KEY_PREFIX_LENGTH:
        return None
    api_key = ApiKey.objects.filter(prefix=parts[1], revoked_at__isnull=True).first()
    if api_key is None or not secrets.compare_digest(api_key.hashed_secret, hash_secret(secret)):
        return None
    now = timezone.now()
    if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > LAST_USED_RESOLUTION_SECONDS:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


def ingest_batch_record(
    *, kind: str, items: int, accepted: bool, api_key: ApiKey | None = None, user=None, source: str = "api",
    created: int = 0, updated: int = 0, duplicates: int = 0, errors: list[dict] | None = None,
    follow_up: dict | None = None, error_count: int | None = None,
) -> IngestBatch:
    """Log a received batch for data health; a rejected batch keeps its first 100 errors. `error_count` is the
    number of problems when `errors` lists only the first of them (a large CSV file)."""
    errors = errors or []
    # An error may echo the request (an unknown field's name), and jsonb cannot hold a NUL character.
    stored_errors = [{name: value.replace("\x00", "\ufffd") if isinstance(value, str) else value
                      for name, value in error.items()} for error in errors[:100]]
    return IngestBatch.objects.create(
        kind=kind, items=items, accepted=accepted, api_key=api_key, user=user if user and user.pk else None,
        source=source, created=created, updated=updated, duplicates=duplicates,
        error_count=len(errors) if error_count is None else error_count,
        errors=stored_errors, follow_up=follow_up,
    )


def batch_rejection_record(*, rejection: BatchRejected) -> IngestBatch:
    """Log a refused batch with its reasons; call it outside the transaction that refused it."""
    return ingest_batch_record(accepted=False, errors=rejection.errors, **rejection.log)


def idempotent_request_store(
    *, key: str, api_key: ApiKey | None, user, method: str, path: str, fingerprint: str, status_code: int,
    body: bytes,
) -> None:
    IdempotentRequest.objects.create(
        key=key, api_key=api_key, user=user if api_key is None else None, method=method, path=path,
        fingerprint=fingerprint, status_code=status_code, response_body=body,
    )


def stale_feeds_alert(*, now=None) -> list[str]:
    """Email the tenant's admins about each feed that went quiet past its limit, once per silence.

    A feed re-arms when data arrives again (its last batch is newer than the last alert). Returns the
    kinds alerted now.
    """
    from django.core.mail import send_mail

    from integrations.models import FeedPolicy
    from integrations.selectors import feed_health
    from users.models import Role, User

    now = now or timezone.now()
    alerted = []
    for feed in feed_health(now=now):
        if not feed.is_stale:
            continue
        policy, _ = FeedPolicy.objects.get_or_create(kind=feed.kind,
                                                     defaults={"max_silence_hours": feed.max_silence_hours})
        # Compare-and-set: only one evaluation per silence sends the email, however often it runs.
        claimed = FeedPolicy.objects.filter(pk=policy.pk).filter(
            models.Q(alerted_at__isnull=True) | models.Q(alerted_at__lt=feed.last_received_at)
        ).update(alerted_at=now)
        if not claimed:
            continue
        admins = list(User.objects.filter(role=Role.ADMIN, is_active=True).values_list("email", flat=True))
        if admins:
            hours = (now - feed.last_received_at).total_seconds() / 3600
            send_mail(
                subject=f"[Bellwether] {feed.label} feed has been quiet for {hours:.0f} hours",
                message=(f"No {feed.label.lower()} have arrived since {feed.last_received_at:%Y-%m-%d %H:%M} UTC, "
                         f"longer than the {feed.max_silence_hours}-hour limit. KPIs computed from this data are "
                         "going stale. Check the integration that sends it (Data health shows each API key)."),
                from_email=None, recipient_list=admins,
            )
        alerted.append(feed.kind)
    return alerted


IDEMPOTENCY_RETENTION_DAYS = 7


def idempotent_requests_purge(*, now=None) -> int:
    """Forget stored replies older than the retention: a client retries within minutes, not weeks."""
    cutoff = (now or timezone.now()) - timedelta(days=IDEMPOTENCY_RETENTION_DAYS)
    deleted, _ = IdempotentRequest.objects.filter(created_at__lt=cutoff).delete()
    return deleted
