"""Webhook payloads as Slack incoming-webhook messages: a short, linked summary of the breach, task or run, so a
CS team's channel hears of it without a bridge service. Slack reads `text` (also its notification) and the
`blocks`; links go to the tenant's own pages."""

from __future__ import annotations

from django.conf import settings
from django.urls import NoReverseMatch, reverse

from tenants.services import tenant_host

TITLES = {
    "breach.opened": "Breach opened", "breach.resolved": "Breach resolved", "task.created": "New task",
    "task.overdue": "Task overdue", "task.completed": "Task completed",
    "playbook_run.completed": "Playbook run finished", "ping": "Test delivery",
}


def _escaped(text) -> str:
    """Slack's mrkdwn reads &, < and > as markup: what a customer named an account must stay text."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def tenant_url(slug: str | None, route: str, *args) -> str:
    """The absolute address of a tenant's page (https where the site redirects to it)."""
    if not slug:
        return ""
    try:
        path = reverse(route, args=args)
    except NoReverseMatch:
        return ""
    secure = getattr(settings, "SECURE_SSL_REDIRECT", False)
    port = getattr(settings, "PORT", 80)
    host = tenant_host(slug) + ("" if secure or port in (80, 443) else f":{port}")
    return f"{'https' if secure else 'http'}://{host}{path}"


def _link(url: str, label) -> str:
    return f"<{url}|{_escaped(label)}>" if url else _escaped(label)


def _account(data: dict, slug: str | None) -> str:
    account = data.get("account")
    if not account:
        segment = data.get("segment")
        return f"segment {_escaped(segment)}" if segment else "the portfolio"
    return _link(tenant_url(slug, "account_detail", account["id"]), account.get("name") or account.get("external_id"))


def _when(value) -> str:
    return str(value)[:16].replace("T", " ") + " UTC" if value else ""


def _breach(event: str, data: dict, slug: str | None) -> str:
    kpi = _link(tenant_url(slug, "kpi_detail", data["kpi"]["slug"]), data["kpi"]["name"])
    if event == "breach.resolved":
        return f"{kpi} for {_account(data, slug)} is back at {data.get('value_at_resolve')}."
    return (f"{kpi} for {_account(data, slug)} at {data.get('value_at_open')} (threshold {data.get('threshold')}), "
            f"{data.get('severity')}: respond by {_when(data.get('respond_by'))}.")


def _task(event: str, data: dict, slug: str | None) -> str:
    assignee = (data.get("assignee") or {}).get("email") or data.get("queue_role") or "nobody yet"
    title = _link(tenant_url(slug, "my_work"), data.get("title"))
    if event == "task.completed":
        return f"{title} for {_account(data, slug)} was completed ({_escaped(data.get('outcome') or 'no outcome')})."
    due = f", due {_when(data.get('due_at'))[:10]}" if data.get("due_at") else ""
    overdue = " missed its response time" if event == "task.overdue" else ""
    return f"{title} for {_account(data, slug)}{overdue}: {_escaped(assignee)}{due}."


def _run(data: dict, slug: str | None) -> str:
    playbook = data.get("playbook") or {}
    url = tenant_url(slug, "playbook_detail", playbook["id"]) if playbook.get("id") else ""
    name = _link(url, playbook.get("name"))
    return f"{name} for {_account(data, slug)} finished ({_escaped(data.get('outcome') or data.get('status'))})."


def slack_message(payload: dict) -> dict:
    """The delivery's payload (`event`, `tenant`, `data`) as a Slack message."""
    event, slug, data = payload.get("event", ""), payload.get("tenant"), payload.get("data") or {}
    if event.startswith("breach."):
        summary = _breach(event, data, slug)
    elif event.startswith("task."):
        summary = _task(event, data, slug)
    elif event == "playbook_run.completed":
        summary = _run(data, slug)
    else:
        summary = _escaped(data.get("message") or "Bellwether can reach this channel.")
    title = TITLES.get(event, event)
    return {
        "text": f"{title}: {summary}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*\n{summary}"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Bellwether · {_escaped(slug or '')}"}]},
        ],
    }
