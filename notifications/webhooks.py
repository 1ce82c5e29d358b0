"""Outbound webhooks: events recorded in the transaction of the change they report, delivered by Celery
with an HMAC-SHA256 signature, retried with backoff, every attempt logged on the delivery.

Receivers verify `X-Bellwether-Signature: t=<unix time>,v1=<hex>` where the hex is
HMAC-SHA256(secret, f"{t}.{raw body}"); `X-Bellwether-Delivery` (the event id) lets them drop repeats.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

import requests
from celery import current_app
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from core import outbound
from notifications.models import (
    SUBSCRIBABLE_EVENTS,
    DeliveryStatus,
    Event,
    Webhook,
    WebhookDelivery,
    WebhookFormat,
)
from notifications.slack import slack_message
from tenants.tasks import on_commit_in_tenant

logger = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Bellwether-Signature"
RESPONSE_BODY_KEPT = 2000
# An attempt in progress holds its delivery this long; a worker killed mid-attempt frees it by expiry.
LEASE = timedelta(minutes=2)
# Sent by name: the task module calls this one, so this one does not import it (no cycle between them).
DELIVER_TASK = "notifications.tasks.webhook_deliver_task"


class WebhookError(Exception):
    """A webhook cannot be configured as asked; the message says why, `field` names the input at fault."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _retry_delays() -> list[int]:
    """Seconds to wait after each failed attempt; one more attempt than delays, then the delivery gives up."""
    return list(getattr(settings, "WEBHOOK_RETRY_DELAYS", [30, 120, 600, 3600, 21600]))


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def signature_valid(secret: str, header: str, body: bytes, *, tolerance: int = 300, now: float | None = None) -> bool:
    """What a receiver does: recompute the signature and refuse stale timestamps (replays)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), header)


def _private_networks_allowed() -> bool:
    return getattr(settings, "WEBHOOK_ALLOW_PRIVATE_NETWORKS", False)


def url_check(url: str) -> str:
    """An http(s) URL every parser reads alike; where the operator forbids private networks (production), one
    whose host resolves, now, to public addresses only (SSRF). Delivery checks it again and connects to the
    addresses it checked (`core.outbound`)."""
    try:
        URLValidator(schemes=["http", "https"])(url)
        destination = outbound.destination_parse(url)
        if not _private_networks_allowed():
            outbound.destination_resolve(destination, allow_private=False)
    except ValidationError:
        raise WebhookError(f"'{url}' is not an http or https URL.", field="url") from None
    except outbound.OutboundRefused as refusal:
        raise WebhookError(str(refusal), field="url") from None
    return url


def events_check(events: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(events))
    unknown = [event for event in chosen if event not in SUBSCRIBABLE_EVENTS]
    if unknown:
        raise WebhookError(f"Unknown event(s) {', '.join(unknown)}; choose from {', '.join(SUBSCRIBABLE_EVENTS)}.",
                           field="events")
    if not chosen:
        raise WebhookError("Subscribe to at least one event.", field="events")
    return chosen


def secret_new() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def webhook_create(*, name: str, url: str, events: Iterable[str], created_by=None, is_active: bool = True,
                   format: str = WebhookFormat.BELLWETHER) -> Webhook:
    if not name.strip():
        raise WebhookError("Give the webhook a name.", field="name")
    return Webhook.objects.create(name=name.strip(), url=url_check(url), events=events_check(events),
                                  secret=secret_new(), created_by=created_by, is_active=is_active,
                                  format=format_check(format))


def format_check(value: str) -> str:
    if value not in WebhookFormat.values:
        raise WebhookError(f"Unknown format {value!r}; choose from {', '.join(WebhookFormat.values)}.", field="format")
    return value


def webhook_update(*, webhook: Webhook, **changes) -> Webhook:
    """Change name, url, events, format or active flag; each is checked as on creation."""
    if "url" in changes:
        changes["url"] = url_check(changes["url"])
    if "events" in changes:
        changes["events"] = events_check(changes["events"])
    if "format" in changes:
        changes["format"] = format_check(changes["format"])
    if "name" in changes:
        if not changes["name"].strip():
            raise WebhookError("Give the webhook a name.", field="name")
        changes["name"] = changes["name"].strip()
    for field, value in changes.items():
        setattr(webhook, field, value)
    webhook.save(update_fields=list(changes))
    return webhook


def webhook_secret_rotate(*, webhook: Webhook) -> str:
    webhook.secret = secret_new()
    webhook.save(update_fields=["secret"])
    return webhook.secret


def events_record(event: str, items: list[dict] | Callable[[], list[dict]], *, now: datetime | None = None) -> int:
    """Record one delivery per subscribed endpoint and item, in the caller's transaction, and send them
    after commit. Cheap when nobody listens: one query, and `items` may be a callable so the payloads are
    only built when someone does."""
    webhooks = list(Webhook.objects.filter(is_active=True, events__contains=[event]).only("pk"))
    if not webhooks:
        return 0
    items = items() if callable(items) else items
    if not items:
        return 0
    now = now or timezone.now()
    tenant = getattr(connection, "tenant", None)
    deliveries = []
    for data in items:
        envelope = {"event": event, "created_at": now, "tenant": getattr(tenant, "slug", None), "data": data}
        event_id = None
        for webhook in webhooks:
            delivery = WebhookDelivery(webhook=webhook, event=event, payload=envelope, next_attempt_at=now)
            event_id = event_id or delivery.event_id
            delivery.event_id = event_id
            delivery.payload = {"id": str(event_id), **envelope}
            deliveries.append(delivery)
    created = WebhookDelivery.objects.bulk_create(deliveries)
    ids = [delivery.pk for delivery in created]
    on_commit_in_tenant(lambda: _send_later(ids))
    return len(ids)


def event_record(event: str, data: dict) -> int:
    return events_record(event, [data])


def _send_later(delivery_ids: list[int], countdown: float = 0) -> None:
    """Hand the deliveries to Celery; a broker outage leaves them pending for the sweeper."""
    for sent, delivery_id in enumerate(delivery_ids):
        try:
            current_app.send_task(DELIVER_TASK, args=(delivery_id,), countdown=countdown)
        except Exception:  # noqa: BLE001 - any broker failure: the rows are safe in PostgreSQL
            logger.warning("Broker unavailable: %d webhook deliveries stay pending for the sweeper.",
                           len(delivery_ids) - sent)
            return


def ping_send(*, webhook: Webhook) -> WebhookDelivery:
    """A test delivery, so an admin can check the endpoint and its signature check."""
    with transaction.atomic():
        now = timezone.now()
        delivery = WebhookDelivery(webhook=webhook, event=Event.PING, next_attempt_at=now)
        delivery.payload = {"id": str(delivery.event_id), "event": Event.PING, "created_at": now,
                            "tenant": getattr(connection.tenant, "slug", None),
                            "data": {"webhook": webhook.pk, "message": "Bellwether test delivery"}}
        delivery.save()
        on_commit_in_tenant(lambda: _send_later([delivery.pk]))
    return delivery


def delivery_redeliver(*, delivery: WebhookDelivery) -> bool:
    """Send a delivery again (after the endpoint is fixed): a fresh set of attempts, same event id."""
    with transaction.atomic():
        updated = WebhookDelivery.objects.filter(pk=delivery.pk).exclude(
            status=DeliveryStatus.PENDING, next_attempt_at__gt=timezone.now()).update(
            status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=timezone.now(), error="")
        if updated:
            on_commit_in_tenant(lambda: _send_later([delivery.pk]))
    return bool(updated)


def _claim(delivery_id: int, now: datetime) -> WebhookDelivery | None:
    """Compare-and-set: take a due, pending delivery and lease it, so two workers never both send it."""
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now,
    ).update(next_attempt_at=now + LEASE, last_attempt_at=now)
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("webhook").get(pk=delivery_id)


def delivery_attempt(delivery_id: int, *, now: datetime | None = None) -> WebhookDelivery | None:
    """One attempt: POST the signed payload; record the answer; schedule the next attempt or give up.

    Returns None when the delivery is not due (already delivered, given up, or leased by another worker).
    """
    now = now or timezone.now()
    delivery = _claim(delivery_id, now)
    if delivery is None:
        return None
    webhook = delivery.webhook
    content = slack_message(delivery.payload) if webhook.format == WebhookFormat.SLACK else delivery.payload
    body = json.dumps(content, separators=(",", ":"), sort_keys=True).encode()
    status_code, response_body, error = None, "", ""
    started = time.monotonic()
    try:
        if not webhook.is_active:
            raise WebhookError("The webhook is disabled.")
        # Checked again at send time (DNS may point elsewhere now), and sent to the addresses checked.
        destination = outbound.destination_check(webhook.url, allow_private=_private_networks_allowed())
        answer = outbound.post(
            destination, body=body, keep=RESPONSE_BODY_KEPT, ca_bundle=getattr(settings, "WEBHOOK_CA_BUNDLE", None),
            timeout=getattr(settings, "WEBHOOK_TIMEOUT_SECONDS", 5),
            headers={"Content-Type": "application/json", "User-Agent": "Bellwether-Webhooks/1",
                     "X-Bellwether-Event": delivery.event, "X-Bellwether-Delivery": str(delivery.event_id),
                     SIGNATURE_HEADER: signature(webhook.secret, int(time.time()), body)},
        )
        status_code, response_body = answer.status, answer.body
        if not 200 <= status_code < 300:
            error = f"The endpoint answered {status_code}."
    except (requests.RequestException, WebhookError, outbound.OutboundRefused) as failure:
        error = str(failure)[:RESPONSE_BODY_KEPT] or failure.__class__.__name__
    attempts = delivery.attempts + 1
    delays = _retry_delays()
    elapsed = time.monotonic() - started
    finished = now + timedelta(seconds=elapsed)
    fields = {"attempts": attempts, "response_status": status_code, "response_body": response_body,
              "error": error, "duration_ms": int(elapsed * 1000)}
    if not error:
        fields |= {"status": DeliveryStatus.DELIVERED, "delivered_at": finished}
    elif attempts > len(delays):
        fields |= {"status": DeliveryStatus.FAILED}
    else:
        fields |= {"next_attempt_at": finished + timedelta(seconds=delays[attempts - 1])}
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
    for field, value in fields.items():
        setattr(delivery, field, value)
    if error and delivery.status == DeliveryStatus.PENDING:
        _send_later([delivery.pk], countdown=delays[attempts - 1])
    return delivery


def deliveries_due(*, now: datetime | None = None) -> QuerySet[WebhookDelivery]:
    """Pending deliveries whose next attempt is due."""
    return WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now or timezone.now())


def deliveries_due_send(*, now: datetime | None = None, limit: int = 500) -> int:
    """The sweeper: resend pending deliveries that are due (their message was lost, or a lease expired)."""
    ids = list(deliveries_due(now=now).order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
    _send_later(ids)
    return len(ids)


def deliveries_purge(*, now: datetime | None = None) -> int:
    """Forget old deliveries: delivered ones after WEBHOOK_DELIVERED_KEPT_DAYS, failed ones (which an admin may
    still want to resend or read) after WEBHOOK_FAILED_KEPT_DAYS. Pending ones are never purged."""
    now = now or timezone.now()
    delivered = WebhookDelivery.objects.filter(
        status=DeliveryStatus.DELIVERED,
        created_at__lt=now - timedelta(days=getattr(settings, "WEBHOOK_DELIVERED_KEPT_DAYS", 30)))
    failed = WebhookDelivery.objects.filter(
        status=DeliveryStatus.FAILED,
        created_at__lt=now - timedelta(days=getattr(settings, "WEBHOOK_FAILED_KEPT_DAYS", 90)))
    return delivered._raw_delete(delivered.db) + failed._raw_delete(failed.db)
