"""What the API shows of customer data (reads), and what an account update may change."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import Account, RevenueSnapshot, SupportTicket, SurveyResponse
from accounts.models import UsageEvent as UsageEventModel


class AccountOut(serializers.ModelSerializer):
    owner = serializers.EmailField(source="owner.email", allow_null=True, read_only=True, default=None)
    seats = serializers.IntegerField(source="licensed_seats", allow_null=True)
    current_mrr = serializers.DecimalField(max_digits=14, decimal_places=2, coerce_to_string=False, read_only=True)

    class Meta:
        model = Account
        fields = ["id", "external_id", "name", "plan", "region", "industry", "lifecycle_stage", "status",
                  "start_date", "renewal_date", "seats", "owner", "current_mrr", "custom_attributes",
                  "created_at", "updated_at"]


class UsageEventOut(serializers.ModelSerializer):
    id = serializers.CharField(source="idempotency_key")
    user = serializers.CharField(source="user_id")
    event = serializers.CharField(source="event_name")
    timestamp = serializers.DateTimeField(source="occurred_at")

    class Meta:
        model = UsageEventModel
        fields = ["id", "user", "event", "timestamp", "properties", "received_at"]


@extend_schema_field({"type": "string", "pattern": r"^\d{4}-(0[1-9]|1[0-2])$", "example": "2026-11"})
class MonthField(serializers.DateField):
    """A month written `YYYY-MM`, as the revenue bulk endpoint takes it (stored as the month's first day)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(format="%Y-%m", **kwargs)


class RevenueSnapshotOut(serializers.ModelSerializer):
    month = MonthField()
    mrr = serializers.DecimalField(max_digits=14, decimal_places=2, coerce_to_string=False)

    class Meta:
        model = RevenueSnapshot
        fields = ["month", "mrr", "updated_at"]


class SurveyResponseOut(serializers.ModelSerializer):
    id = serializers.CharField(source="external_id")

    class Meta:
        model = SurveyResponse
        fields = ["id", "kind", "score", "comment", "respondent", "responded_at"]


class SupportTicketOut(serializers.ModelSerializer):
    id = serializers.CharField(source="external_id")

    class Meta:
        model = SupportTicket
        fields = ["id", "subject", "priority", "opened_at", "first_response_at", "resolved_at", "handling_minutes"]


class ImportRowErrorOut(serializers.Serializer):
    row = serializers.IntegerField(allow_null=True, help_text="CSV line number (the header is line 1).")
    field = serializers.CharField(allow_null=True)
    message = serializers.CharField()
