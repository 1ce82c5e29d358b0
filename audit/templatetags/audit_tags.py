"""Template helpers for the audit log: what was changed, said as people say it."""

from __future__ import annotations

from django import template
from django.apps import apps

register = template.Library()

# Words the model names spell in capitals.
ACRONYMS = {"kpi": "KPI", "api": "API", "sla": "SLA", "csm": "CSM"}


@register.filter
def object_type_label(label: str) -> str:
    """`metrics.kpitarget` as "KPI target", `integrations.apikey` as "API key": the model's own name."""
    try:
        name = str(apps.get_model(label)._meta.verbose_name)
    except (LookupError, ValueError):
        return label
    words = [ACRONYMS.get(word.lower(), word) for word in name.split()]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


ACTION_LABELS = {"created": "Created", "updated": "Changed", "deleted": "Deleted"}


@register.filter
def action_label(action: str) -> str:
    return ACTION_LABELS.get(action, action.replace("_", " ").capitalize())
