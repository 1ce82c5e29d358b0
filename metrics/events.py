"""What the outside world is told about a breach (the `breach.*` webhook payloads)."""

from __future__ import annotations

from metrics.models import Breach
from notifications.models import Event
from notifications.webhooks import events_record


def breach_event_data(breach: Breach) -> dict:
    account = breach.account
    return {
        "id": breach.pk, "status": breach.status, "severity": breach.severity, "scope": breach.scope,
        "rule": {"id": breach.rule_id, "name": breach.rule.name},
        "kpi": {"slug": breach.kpi.slug, "name": breach.kpi.name},
        "account": {"id": account.pk, "external_id": account.external_id, "name": account.name} if account else None,
        "dimension": breach.dimension or None, "segment": breach.segment or None,
        "opened_at": breach.opened_at, "opened_as_of": breach.opened_as_of, "value_at_open": breach.value_at_open,
        "threshold": breach.threshold, "respond_by": breach.respond_by,
        "resolved_at": breach.resolved_at, "resolved_as_of": breach.resolved_as_of,
        "value_at_resolve": breach.value_at_resolve,
    }


def breaches_announce(*, opened: list[int], resolved: list[int]) -> None:
    """Record `breach.opened` / `breach.resolved` deliveries in the evaluation's own transaction."""
    for event, ids in ((Event.BREACH_OPENED, opened), (Event.BREACH_RESOLVED, resolved)):
        if ids:
            events_record(event, lambda ids=ids: [
                breach_event_data(breach)
                for breach in Breach.objects.filter(pk__in=ids).select_related("rule", "kpi", "account")])
