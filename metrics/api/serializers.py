"""What the API shows of KPIs and their values, and what a KPI change may carry."""

from rest_framework import serializers

from core.api.serializers import BoundedModelSerializer
from core.numbers import QUARTER_PATTERN
from metrics.annotations import TEXT_MAX_LENGTH
from metrics.models import (
    KPI,
    RENEWAL_WINDOW_MAX_DAYS,
    AlertRule,
    Annotation,
    Breach,
    ComputationRun,
    KPITarget,
    KPIVersion,
    MetricValue,
    Scope,
)
from metrics.segments import DIMENSIONS

TEN_YEARS_IN_DAYS = 3650


class KPIOut(serializers.ModelSerializer):
    owner = serializers.EmailField(source="owner.email", allow_null=True, read_only=True, default=None)
    formula = serializers.SerializerMethodField()

    class Meta:
        model = KPI
        fields = ["slug", "name", "definition", "formula", "tier", "indicator", "calculator", "params", "scopes",
                  "cadence", "unit", "direction", "owner", "data_source", "is_active", "is_core", "in_review",
                  "poor_value", "good_value", "benchmark_value", "benchmark_source", "version", "updated_at"]

    def get_formula(self, kpi: KPI) -> str:
        from metrics.calculators import REGISTRY

        calculator = REGISTRY.get(kpi.calculator)
        return calculator.formula if calculator else ""


class KPIIn(BoundedModelSerializer):
    owner = serializers.EmailField(required=False, allow_null=True)
    calculator = serializers.ChoiceField(choices=[], help_text="Registry id, e.g. revenue.grr.")
    params = serializers.DictField(required=False, help_text="The calculator's parameters, by name.")
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=Scope.choices), required=False)
    reason = serializers.CharField(required=False, allow_blank=True, write_only=True,
                                   help_text="Why the calculator or parameters changed (kept with the version).")

    class Meta:
        model = KPI
        fields = ["slug", "name", "definition", "tier", "indicator", "calculator", "params", "scopes", "cadence",
                  "unit", "direction", "owner", "data_source", "is_active", "is_core", "in_review", "poor_value",
                  "good_value", "benchmark_value", "benchmark_source", "reason"]

    def __init__(self, *args, **kwargs) -> None:
        from metrics.calculators import REGISTRY

        super().__init__(*args, **kwargs)
        # Read when the serializer is made, so a calculator registered by any module is a choice.
        self.fields["calculator"].choices = sorted(REGISTRY)


class KPIVersionOut(serializers.ModelSerializer):
    changed_by = serializers.EmailField(source="changed_by.email", allow_null=True, default=None)

    class Meta:
        model = KPIVersion
        fields = ["version", "calculator", "params", "changed_by", "reason", "created_at"]


class KPITargetOut(serializers.ModelSerializer):
    set_by = serializers.EmailField(source="set_by.email", allow_null=True, default=None)

    class Meta:
        model = KPITarget
        fields = ["period", "dimension", "segment", "value", "baseline", "set_by", "reason", "created_at",
                  "superseded_at"]


class KPITargetIn(serializers.Serializer):
    period = serializers.RegexField(QUARTER_PATTERN, help_text="YYYY-Qn")
    value = serializers.FloatField()
    baseline = serializers.FloatField(required=False, allow_null=True)
    dimension = serializers.ChoiceField(choices=["", "plan", "region", "industry", "lifecycle_stage", "size_band",
                                                 "owner"], required=False, default="")
    segment = serializers.CharField(required=False, default="", allow_blank=True)
    reason = serializers.CharField(allow_blank=False)


class MetricValueOut(serializers.ModelSerializer):
    subject = serializers.SerializerMethodField()

    class Meta:
        model = MetricValue
        fields = ["as_of", "scope", "subject", "value", "numerator", "denominator", "sample_size", "kpi_version",
                  "details"]

    def get_subject(self, row: MetricValue) -> str:
        if row.scope == Scope.ACCOUNT:
            return str(row.account_id)
        if row.scope == Scope.SEGMENT:
            return f"{row.dimension}:{row.segment}"
        return "portfolio"


class ComputeIn(serializers.Serializer):
    kpis = serializers.ListField(child=serializers.SlugField(), required=False, allow_empty=False)
    as_of = serializers.DateField()


class ComputationRunOut(serializers.ModelSerializer):
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = ComputationRun
        fields = ["id", "status", "trigger", "as_of", "kpi_slugs", "account_ids", "created_at", "started_at",
                  "finished_at", "duration_seconds", "kpis_done", "values_computed", "rows_written", "errors"]


class AlertRuleIO(BoundedModelSerializer):
    kpi = serializers.SlugRelatedField(slug_field="slug", queryset=KPI.objects.all())

    class Meta:
        model = AlertRule
        fields = ["id", "kpi", "name", "scope", "condition", "threshold", "lookback_days", "dimension", "segment",
                  "renewal_within_days", "persistence", "hysteresis", "cooldown_hours", "severity", "action",
                  "is_active", "created_at"]
        read_only_fields = ["id", "created_at"]
        # Beyond what the columns hold: the evaluation subtracts these from today, so ten years at most.
        extra_kwargs = {"lookback_days": {"max_value": TEN_YEARS_IN_DAYS},
                        "cooldown_hours": {"max_value": TEN_YEARS_IN_DAYS * 24},
                        "renewal_within_days": {"min_value": 1, "max_value": RENEWAL_WINDOW_MAX_DAYS}}

    def validate(self, attrs: dict) -> dict:
        merged = {**({f: getattr(self.instance, f) for f in self.Meta.fields if f not in ("id", "created_at")}
                     if self.instance else {}), **attrs}
        condition = merged.get("condition")
        if condition in ("below", "above", "drop", "rise") and merged.get("threshold") is None:
            raise serializers.ValidationError({"threshold": f"A '{condition}' rule needs a threshold."})
        if condition in ("drop", "rise") and (merged.get("threshold") or 0) <= 0:
            raise serializers.ValidationError({"threshold": "A drop or rise is a positive percentage."})
        if condition == "anomaly" and merged["kpi"].calculator != "usage.anomaly":
            raise serializers.ValidationError({"condition": "Anomaly rules need a KPI computed by usage.anomaly."})
        if bool(merged.get("dimension")) != bool(merged.get("segment")):
            raise serializers.ValidationError({"segment": "Give both dimension and segment, or neither."})
        if merged.get("renewal_within_days") is not None and merged.get("scope", "account") != "account":
            raise serializers.ValidationError({"renewal_within_days": "Only account rules have a renewal window."})
        if merged.get("dimension") and merged["dimension"] not in DIMENSIONS:
            raise serializers.ValidationError({"dimension": f"One of: {', '.join(DIMENSIONS)}."})
        return attrs


class BreachOut(serializers.ModelSerializer):
    kpi = serializers.CharField(source="kpi.slug")
    rule = serializers.CharField(source="rule.name")
    account = serializers.IntegerField(source="account_id", allow_null=True)
    account_name = serializers.CharField(source="account.name", allow_null=True, default=None)

    class Meta:
        model = Breach
        fields = ["id", "rule", "kpi", "scope", "account", "account_name", "dimension", "segment", "status",
                  "severity", "opened_at", "opened_as_of", "value_at_open", "threshold", "respond_by",
                  "acknowledged_at", "resolved_at", "resolved_as_of", "value_at_resolve"]


class AnnotationOut(serializers.ModelSerializer):
    kpi = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    author = serializers.EmailField(source="author.email", allow_null=True, default=None, read_only=True)

    class Meta:
        model = Annotation
        fields = ["id", "kpi", "date", "text", "author", "created_at"]


class AnnotationIn(serializers.Serializer):
    date = serializers.DateField(help_text="YYYY-MM-DD: the day the note is about.")
    text = serializers.CharField(max_length=TEXT_MAX_LENGTH,
                                 help_text="What happened, e.g. 'Price change for the Growth plan'.")
