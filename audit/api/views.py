"""The audit log through the API: admins read it; nobody writes it (there is no write endpoint)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers

from audit.models import ActorKind, AuditEntry
from audit.selectors import audit_entries
from core.api.pagination import cursor_pagination
from core.api.permissions import AdminScope
from core.errors import InvalidInput


class AuditEntryOut(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = ["id", "at", "actor_kind", "actor_user_id", "actor_api_key_id", "actor_label", "action",
                  "object_type", "object_id", "object_repr", "before", "after"]


@extend_schema(tags=["settings"], parameters=[
    OpenApiParameter("object_type", str, description="e.g. metrics.kpi, users.user, integrations.apikey"),
    OpenApiParameter("object_id", str), OpenApiParameter("actor_kind", str, enum=ActorKind.values),
])
class AuditLog(generics.ListAPIView):
    """Every change to KPIs, targets, rules, playbooks, users, API keys, webhooks and settings, newest first."""

    permission_classes = [AdminScope]
    serializer_class = AuditEntryOut
    pagination_class = cursor_pagination("-at", "-id")

    def get_queryset(self):
        params = self.request.query_params
        if params.get("actor_kind") and params["actor_kind"] not in ActorKind.values:
            raise InvalidInput(f"actor_kind must be one of {', '.join(ActorKind.values)}.")
        return audit_entries(object_type=params.get("object_type"), object_id=params.get("object_id"),
                             actor_kind=params.get("actor_kind"))
