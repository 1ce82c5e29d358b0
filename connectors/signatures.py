"""Checking that a vendor sent a call, as each vendor signs: Stripe, Zendesk and Intercom. Every comparison is
constant-time; every refusal (401) says what was wrong, never what the right signature would be."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from connectors.http import Refusal
from core.numbers import whole_number

STRIPE_TOLERANCE_SECONDS = 300
ZENDESK_TOLERANCE_SECONDS = 300


def _same(expected: str, sent: str) -> bool:
    """Constant-time comparison of a signature as sent: compared as bytes, since a header may hold any
    character and `hmac.compare_digest` raises a TypeError (a 500) on a string that is not ASCII."""
    return hmac.compare_digest(expected.encode(), sent.encode(errors="replace"))


def _secret_required(secret: str, vendor: str) -> None:
    if not secret:
        raise Refusal(401, f"No {vendor} signing secret is set for this tenant: an admin pastes it on "
                           f"Settings → Connectors → {vendor}. Nothing is accepted unsigned.")


def _fresh(timestamp: int, now: float, tolerance: int, vendor: str) -> None:
    age = now - timestamp
    if abs(age) > tolerance:
        raise Refusal(401, f"The {vendor} signature was made {int(age)} s from now; more than {tolerance} s is "
                           "refused (a replay, or a clock that is off).")


def stripe_signature_check(*, header: str, payload: bytes, secret: str, now: float | None = None,
                           tolerance: int = STRIPE_TOLERANCE_SECONDS) -> None:
    """`Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t.payload">[,v1=...]`: any v1 may match (Stripe
    signs with every active secret while one is rolled)."""
    _secret_required(secret, "Stripe")
    if not header:
        raise Refusal(401, "No Stripe-Signature header: only Stripe's signed webhooks are accepted here.")
    parts = [item.split("=", 1) for item in header.split(",") if "=" in item]
    timestamps = [value for name, value in parts if name.strip() == "t"]
    signatures = [value.strip() for name, value in parts if name.strip() == "v1"]
    timestamp = whole_number(timestamps[0].strip(), minimum=0) if len(timestamps) == 1 else None
    if timestamp is None or not signatures:
        raise Refusal(401, "The Stripe-Signature header needs one t=<unix time> and a v1=<signature>.")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    if not any(_same(expected, signature) for signature in signatures):
        raise Refusal(401, "The Stripe signature does not match this tenant's signing secret (or the body was "
                           "changed on the way).")
    _fresh(timestamp, time.time() if now is None else now, tolerance, "Stripe")


def zendesk_signature_check(*, signature: str, timestamp: str, payload: bytes, secret: str,
                            now: float | None = None) -> None:
    """`X-Zendesk-Webhook-Signature`: base64 of HMAC-SHA256(secret, timestamp + body), with the timestamp in
    `X-Zendesk-Webhook-Signature-Timestamp` (ISO 8601)."""
    from datetime import datetime

    _secret_required(secret, "Zendesk")
    if not signature or not timestamp:
        raise Refusal(401, "No X-Zendesk-Webhook-Signature (and -Timestamp) header: only signed webhooks are "
                           "accepted here.")
    expected = base64.b64encode(hmac.new(secret.encode(), timestamp.encode() + payload, hashlib.sha256).digest())
    if not _same(expected.decode(), signature.strip()):
        raise Refusal(401, "The Zendesk signature does not match this tenant's signing secret (or the body was "
                           "changed on the way).")
    try:
        signed_at = datetime.fromisoformat(timestamp.strip().replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise Refusal(401, "X-Zendesk-Webhook-Signature-Timestamp is not an ISO 8601 time.") from None
    _fresh(int(signed_at), time.time() if now is None else now, ZENDESK_TOLERANCE_SECONDS, "Zendesk")


def intercom_signature_check(*, header: str, payload: bytes, secret: str) -> None:
    """`X-Hub-Signature: sha1=<hex HMAC-SHA1 of the body with the app's client secret>`."""
    _secret_required(secret, "Intercom")
    scheme, _, signature = (header or "").partition("=")
    if scheme.strip().lower() != "sha1" or not signature:
        raise Refusal(401, "No X-Hub-Signature: sha1=<signature> header: only signed notifications are accepted.")
    expected = hmac.new(secret.encode(), payload, hashlib.sha1).hexdigest()
    if not _same(expected, signature.strip().lower()):
        raise Refusal(401, "The Intercom signature does not match this tenant's client secret (or the body was "
                           "changed on the way).")
