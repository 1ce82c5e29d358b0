"""Connector upkeep that is not one vendor's mapping: replaying held calls, forgetting old call logs."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.utils import timezone

from accounts.models import Account
from connectors.billing import stripe_held_replay
from connectors.helpdesk import helpdesk_held_replay
from connectors.models import ConnectorCall, HeldCall, ReceivedEvent
from connectors.options import connector_settings
from connectors.segment import held_calls_replay

CALLS_KEPT_DAYS = 30
# A call held this long names an account that is not coming (a typo, an anonymous visitor): it is let go.
HELD_KEPT_DAYS = 90
# Stripe retries a webhook for three days; an event id is remembered well past that.
EVENTS_KEPT_DAYS = 30


def held_calls_replay_for_accounts(*, account_ids: Iterable[int]) -> int:
    """Apply the calls held for these accounts; returns how many left the hold."""
    keys = set(Account.objects.filter(pk__in=list(account_ids)).values_list("external_id", flat=True))
    if not keys:
        return 0
    return (held_calls_replay(account_keys=keys).replayed + stripe_held_replay(account_keys=keys)
            + helpdesk_held_replay(account_keys=keys))


def connector_logs_purge(*, now=None) -> int:
    """Forget call logs, applied event ids and calls held past their retention."""
    now = now or timezone.now()
    calls, _ = ConnectorCall.objects.filter(received_at__lt=now - timedelta(days=CALLS_KEPT_DAYS)).delete()
    events, _ = ReceivedEvent.objects.filter(received_at__lt=now - timedelta(days=EVENTS_KEPT_DAYS)).delete()
    held, _ = HeldCall.objects.filter(received_at__lt=now - timedelta(days=HELD_KEPT_DAYS)).delete()
    return calls + events + held


def connector_configure(*, connector: str, secret: str | None = None, options: dict | None = None) -> None:
    """Store a connector's signing secret and/or options (audited; the secret is shown only as changed)."""
    settings = connector_settings(connector)
    if secret is not None:
        settings.secret = secret.strip()
    if options is not None:
        settings.options = options
    settings.save()
