"""The accounts as a CSM or leader sees them: the list with each account's latest health, an account's page worth
living in (a header with what matters at a glance, the activity timeline, notes, the people using it, usage and
revenue charts, KPIs by tier) and one KPI's history for one account."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from accounts import selectors
from accounts.services import NOTE_MAX_LENGTH, account_note_create
from metrics.models import KPI, OPEN_STATUSES, Scope, Tier
from metrics.selectors import account_breaches, account_kpi_history, account_kpis, accounts_with_health
from playbooks.selectors import account_open_task_count, account_runs, account_tasks, startable_playbooks
from users.models import Role
from workspace.timeline import KINDS, account_timeline

ACCOUNTS_PAGE_SIZE = 100
# The prediction helper's calculators: the renewal probability heads the page, with its drivers beside the numbers.
RENEWAL_PROBABILITY = "prediction.renewal"
ARR_CHANGE_MONTHS = 3


class NoteForm(forms.Form):
    text = forms.CharField(label="Note", max_length=NOTE_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 3}),
                           error_messages={"required": "Write something: the note is empty."})


def account_list(request: HttpRequest) -> HttpResponse:
    """Every account with its MRR, owner and latest health, 100 a page, searchable by name or external id."""
    query = request.GET.get("q", "").strip()[:200]
    accounts = accounts_with_health(selectors.account_list())
    if query:
        accounts = accounts.filter(Q(name__icontains=query) | Q(external_id__icontains=query))
    page = Paginator(accounts, ACCOUNTS_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "workspace/account_list.html", {"accounts": page, "page": page, "query": query})


def _arr(revenue: list) -> dict:
    """ARR now (the latest MRR x 12) and its change against ARR_CHANGE_MONTHS snapshots earlier."""
    if not revenue:
        return {"now": None, "change": None, "since": None}
    latest = revenue[-1]
    earlier = revenue[-1 - ARR_CHANGE_MONTHS] if len(revenue) > ARR_CHANGE_MONTHS else revenue[0]
    return {"now": latest.mrr * 12, "change": (latest.mrr - earlier.mrr) * 12 if earlier is not latest else None,
            "since": earlier.month}


def _by_tier(kpis: list[dict]) -> list[tuple[str, list[dict]]]:
    """The account's KPIs grouped by tier in the tiers' own order (onboarding to profitability)."""
    grouped: dict[str, list[dict]] = defaultdict(list)
    for row in kpis:
        grouped[row["kpi"].tier].append(row)
    return [(label, grouped[tier]) for tier, label in Tier.choices if grouped.get(tier)]


def _component_names(kpis: list[dict]) -> dict[str, str]:
    """Health components are stored by KPI slug: their names, for people."""
    return {row["kpi"].slug: row["kpi"].name for row in kpis} | dict(
        KPI.objects.filter(scopes__contains=[Scope.ACCOUNT]).values_list("slug", "name"))


def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The account at a glance, its timeline (filterable by kind) and a note form (a POST writes a note and keeps
    what was typed when it is refused, the error beside the field)."""
    account = get_object_or_404(accounts_with_health(selectors.account_list()), pk=pk)
    form = NoteForm(request.POST or None)
    if request.method == "POST":
        if request.user.role == Role.VIEWER:
            raise PermissionDenied("Viewers read accounts; notes are written by the team.")
        if form.is_valid():
            try:
                account_note_create(account=account, author=request.user, text=form.cleaned_data["text"])
            except ValidationError as error:
                form.add_error("text", error.message_dict.get("text", error.messages))
            else:
                messages.success(request, "Note saved: it is on the timeline.")
                return redirect("account_detail", pk=account.pk)
    today = timezone.localdate()
    kind = request.GET.get("timeline", "")
    kind = kind if kind in KINDS else ""
    kpis = account_kpis(account_id=account.pk)
    revenue = list(selectors.account_revenue_history(account=account))
    breaches = list(account_breaches(account_id=account.pk))
    tasks = list(account_tasks(account_id=account.pk))
    health = next((row for row in kpis if row["kpi"].calculator == "health.score"), None)
    probability = next((row for row in kpis if row["kpi"].calculator == RENEWAL_PROBABILITY), None)
    usage = selectors.account_usage_weekly(account=account, today=today)
    context = {
        "account": account,
        "today": today,
        "health": health,
        "component_names": _component_names(kpis) if health and health["details"] else {},
        "renewal_probability": probability if probability and probability["value"] is not None else None,
        "arr": _arr(revenue),
        "renewal_days": (account.renewal_date - today).days if account.renewal_date else None,
        "open_tasks": account_open_task_count(account_id=account.pk),
        "open_breaches": sum(breach.status in OPEN_STATUSES for breach in breaches),
        "kpi_tiers": _by_tier([row for row in kpis if row["kpi"].calculator != RENEWAL_PROBABILITY]),
        "predictions": [row for row in kpis if row["kpi"].calculator == RENEWAL_PROBABILITY and row["details"]],
        "tasks": tasks,
        "playbooks": startable_playbooks(),
        "timeline": account_timeline(
            notes=selectors.account_notes(account=account), tasks=tasks, breaches=breaches,
            surveys=selectors.account_recent_surveys(account=account),
            tickets=selectors.account_recent_tickets(account=account), revenue=revenue,
            runs=account_runs(account_id=account.pk), kind=kind),
        "timeline_kinds": KINDS,
        "timeline_kind": kind,
        "note_form": form,
        "may_write": request.user.role != Role.VIEWER,
        "revenue_dates": [snapshot.month for snapshot in revenue],
        "revenue_values": [float(snapshot.mrr) for snapshot in revenue],
        "usage_dates": [week.week for week in usage],
        "usage_events": [week.events for week in usage],
        "usage_users": [week.active_users for week in usage],
        "people": selectors.account_people(account=account, today=today),
        "features": selectors.account_top_features(account=account, today=today),
    }
    return render(request, "workspace/account_detail.html", context, status=400 if form.errors else 200)


def account_kpi(request: HttpRequest, pk: int, slug: str) -> HttpResponse:
    """One KPI's history for one account: the chart against the KPI's thresholds and this account's values,
    rather than the portfolio's."""
    account = get_object_or_404(selectors.account_list(), pk=pk)
    kpi = get_object_or_404(KPI, slug=slug, is_active=True, scopes__contains=[Scope.ACCOUNT])
    values = account_kpi_history(kpi=kpi, account_id=account.pk)
    start = values[0].as_of if values else timezone.localdate() - timedelta(days=90)
    return render(request, "workspace/account_kpi.html", {
        "account": account, "kpi": kpi, "values": values[::-1], "start": start,
        "dates": [row.as_of for row in values], "history": [row.value for row in values],
    })
