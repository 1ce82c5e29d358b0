"""Template helpers for the audit log: what was changed, said as people say it."""

from __future__ import annotations

from django import template
from django.apps import apps

register = template.Library()

# Words the model names spell in capitals.
ACRONYMS = {"kpi": "KPI", "api": "API", "sla": "SLA", "csm": "CSM"}


def _said(name: str) -> str:
    """A model's or field's name as a sentence starts it, acronyms in capitals: "KPI target", "Poor value"."""
    text = " ".join(ACRONYMS.get(word.lower(), word) for word in name.replace("_", " ").split())
    return text[:1].upper() + text[1:]


@register.filter
def object_type_label(label: str) -> str:
    """`metrics.kpitarget` as "KPI target", `integrations.apikey` as "API key": the model's own name."""
    try:
        return _said(str(apps.get_model(label)._meta.verbose_name))
    except (LookupError, ValueError):
        return label


@register.simple_tag
def change_said(object_type: str, field: str, before, after) -> tuple[str, str, str]:
    """One recorded change as people read it: the field's own name ("Poor value", not `poor_value`) and each
    value by its label when the field has choices ("High", not `high`); an em dash for nothing."""
    try:
        model_field = apps.get_model(object_type)._meta.get_field(field)
    except (LookupError, ValueError):
        model_field = None
    label = _said(str(getattr(model_field, "verbose_name", field)))
    choices = dict(getattr(model_field, "flatchoices", None) or ())

    def value(raw) -> str:
        if raw is None:
            return "—"
        return str(choices.get(raw, raw) if isinstance(raw, str | int) else raw)  # a list or a dict as it is

    return label, value(before), value(after)


ACTION_LABELS = {"created": "Created", "updated": "Changed", "deleted": "Deleted"}


@register.filter
def action_label(action: str) -> str:
    return ACTION_LABELS.get(action, action.replace("_", " ").capitalize())
