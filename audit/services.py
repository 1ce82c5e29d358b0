"""Recording audit entries: for every save and delete of an audited model, and for every audited row a service
changes with an UPDATE (revoking a key, deactivating a user), which the service announces (core.signals)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.models import Model
from django_tenants.utils import get_public_schema_name

from audit.context import current_actor
from audit.models import AuditEntry

REDACTED = "(secret changed)"
# Noise in every model: the entry's own time says when.
ALWAYS_EXCLUDED = frozenset({"updated_at"})


@dataclass(frozen=True)
class Audited:
    """How one model is recorded: fields left out (noise), and secrets shown only as 'changed'."""

    exclude: frozenset[str] = field(default_factory=frozenset)
    secret: frozenset[str] = field(default_factory=frozenset)
    fields: frozenset[str] | None = None  # only these, when given


AUDITED: dict[str, Audited] = {
    "accounts.accountnote": Audited(),
    "metrics.kpi": Audited(),
    "metrics.kpitarget": Audited(),
    "metrics.alertrule": Audited(),
    "playbooks.playbook": Audited(),
    "playbooks.playbookstep": Audited(),
    "users.user": Audited(exclude=frozenset({"password", "last_login"})),
    "integrations.apikey": Audited(exclude=frozenset({"last_used_at"}), secret=frozenset({"hashed_secret"})),
    "notifications.webhook": Audited(secret=frozenset({"secret"})),
    "connectors.connectorsettings": Audited(secret=frozenset({"secret"})),
    "tenants.tenant": Audited(fields=frozenset({
        "name", "time_zone", "sla_critical_hours", "sla_high_hours", "sla_medium_hours", "sla_low_hours",
        "escalation_leader_delay_hours", "escalation_manager_delay_hours", "escalation_to_leaders"})),
}


def audited(model: type[Model]) -> Audited | None:
    return AUDITED.get(model._meta.label_lower)


def snapshot(instance: Model) -> dict:
    """The audited fields of `instance` as JSON-ready values; secrets as a fingerprint only."""
    rules = audited(type(instance)) or Audited()
    values = {}
    for model_field in instance._meta.concrete_fields:
        name = model_field.attname
        left_out = name in rules.exclude or name in ALWAYS_EXCLUDED
        if left_out or (rules.fields is not None and model_field.name not in rules.fields):
            continue
        value = getattr(instance, name)
        values[name] = hash(value) if model_field.name in rules.secret else value
    return json.loads(json.dumps(values, cls=DjangoJSONEncoder))


def _secrets_shown_as_changed(instance: Model, before: dict | None, after: dict | None) -> None:
    rules = audited(type(instance)) or Audited()
    for name in rules.secret:
        if before is not None and after is not None:
            changed = before.get(name) != after.get(name)
            before[name], after[name] = ("(previous)", REDACTED) if changed else ("(unchanged)", "(unchanged)")
        for values in (before, after):
            if values is not None and isinstance(values.get(name), int):
                values[name] = "(set)"


def audit_record(*, action: str, instance: Model, before: dict | None, after: dict | None) -> AuditEntry | None:
    """Append one entry for `instance` by the current actor; nothing when nothing audited changed.

    Outside a tenant (the public schema has no log) nothing is recorded: platform changes there are made
    by operators with shell access, not through the product.
    """
    if connection.schema_name == get_public_schema_name():
        return None
    if before is not None and after is not None and before == after:
        return None
    entry = _entry(action=action, instance=instance, before=before, after=after)
    entry.save()
    return entry


def audit_created(instances: Sequence[Model]) -> list[AuditEntry]:
    """A "created" entry for each of `instances`, which a service wrote with bulk_create (it sends no post_save),
    in one statement."""
    if connection.schema_name == get_public_schema_name():
        return []
    return AuditEntry.objects.bulk_create(
        [_entry(action="created", instance=instance, before=None, after=snapshot(instance)) for instance in instances])


def _entry(*, action: str, instance: Model, before: dict | None, after: dict | None) -> AuditEntry:
    _secrets_shown_as_changed(instance, before, after)
    actor = current_actor()
    return AuditEntry(
        actor_kind=actor.kind, actor_user_id=actor.user_id, actor_api_key_id=actor.api_key_id,
        actor_label=actor.label[:300], action=action, object_type=instance._meta.label_lower,
        object_id=str(instance.pk), object_repr=str(instance)[:300], before=before, after=after)


def audit_bulk_change(*, instance: Model, action: str, **changes) -> AuditEntry | None:
    """A row changed by UPDATE (announced by `changed_by_update`): record `changes` applied to `instance`'s
    values as they were (announced only when the UPDATE changed the row)."""
    before = snapshot(instance)
    for name, value in changes.items():
        setattr(instance, name, value)
    return audit_record(action=action, instance=instance, before=before, after=snapshot(instance))
