"""The audit log page for admins."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from audit.models import ActorKind
from audit.selectors import audit_entries
from audit.services import AUDITED
from users.permissions import admin_required

PAGE_SIZE = 50


@admin_required
def audit_log(request: HttpRequest) -> HttpResponse:
    object_type = request.GET.get("object_type") or None
    actor_kind = request.GET.get("actor_kind") or None
    entries = audit_entries(object_type=object_type if object_type in AUDITED else None,
                            actor_kind=actor_kind if actor_kind in ActorKind.values else None)
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "audit/audit_log.html", {
        "page": page, "object_types": sorted(AUDITED), "actor_kinds": ActorKind.choices,
        "object_type": object_type, "actor_kind": actor_kind,
    })
