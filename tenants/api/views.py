"""The tenant's own settings through the API: time zone and response SLAs (admin scope)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.errors import ERROR_RESPONSES
from core.api.permissions import AdminScope
from core.api.serializers import BoundedModelSerializer
from tenants.models import Tenant

HOURS = {"min_value": 1, "max_value": 24 * 365}


class TenantSettingsIO(BoundedModelSerializer):
    sla_critical_hours = serializers.IntegerField(**HOURS, required=False)
    sla_high_hours = serializers.IntegerField(**HOURS, required=False)
    sla_medium_hours = serializers.IntegerField(**HOURS, required=False)
    sla_low_hours = serializers.IntegerField(**HOURS, required=False)
    escalation_leader_delay_hours = serializers.IntegerField(**HOURS, required=False)
    escalation_manager_delay_hours = serializers.IntegerField(min_value=0, max_value=24 * 365, required=False)

    class Meta:
        model = Tenant
        fields = ["name", "time_zone", "sla_critical_hours", "sla_high_hours", "sla_medium_hours", "sla_low_hours",
                  "escalation_manager_delay_hours", "escalation_leader_delay_hours", "escalation_to_leaders"]
        read_only_fields = ["name"]

    def validate_time_zone(self, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise serializers.ValidationError(f"Unknown time zone {value!r}; use an IANA name such as "
                                              "Europe/Paris.") from None
        return value

    def validate(self, attrs: dict) -> dict:
        merged = {name: attrs.get(name, getattr(self.instance, name)) for name in
                  ("sla_critical_hours", "sla_high_hours", "sla_medium_hours", "sla_low_hours")}
        ordered = [merged["sla_critical_hours"], merged["sla_high_hours"], merged["sla_medium_hours"],
                   merged["sla_low_hours"]]
        if ordered != sorted(ordered):
            raise serializers.ValidationError({"sla_high_hours": "A more severe breach cannot get a longer SLA."})
        manager, leader = (attrs.get(name, getattr(self.instance, name))
                           for name in ("escalation_manager_delay_hours", "escalation_leader_delay_hours"))
        if leader < manager:
            raise serializers.ValidationError({"escalation_leader_delay_hours": "The leaders cannot be told before "
                                               "the manager: make this at least the manager's delay."})
        return attrs


@extend_schema(tags=["settings"])
class TenantSettings(APIView):
    permission_classes = [AdminScope]

    @extend_schema(responses={200: TenantSettingsIO})
    def get(self, request: Request) -> Response:
        return Response(TenantSettingsIO(Tenant.objects.get(pk=connection.tenant.pk)).data)

    @extend_schema(request=TenantSettingsIO, responses={200: TenantSettingsIO, **ERROR_RESPONSES})
    def patch(self, request: Request) -> Response:
        tenant = Tenant.objects.get(pk=connection.tenant.pk)
        payload = TenantSettingsIO(tenant, data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        payload.save()
        connection.tenant.__dict__.update(payload.validated_data)  # this request sees the change too
        return Response(TenantSettingsIO(tenant).data)
