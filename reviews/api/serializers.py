"""What the reviews API reads and writes: reviews with their KPI snapshot, decisions with their progress."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.numbers import QUARTER_PATTERN
from metrics.models import KPI
from metrics.segments import DIMENSIONS
from metrics.status import TargetStatus
from reviews.models import Decision, DecisionKind, DecisionStatus, DecisionUpdate, Review, ReviewKPI, Trend
from reviews.selectors import experiments_for_agenda
from users.models import User


def _active_user(**kwargs) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(slug_field="email", queryset=User.objects.filter(is_active=True), **kwargs)


def _kpi(**kwargs) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(slug_field="slug", queryset=KPI.objects.all(), **kwargs)


class ReviewKPIOut(serializers.ModelSerializer):
    kpi = serializers.CharField(source="kpi.slug")
    kpi_name = serializers.CharField(source="kpi.name")
    unit = serializers.CharField(source="kpi.unit")
    direction = serializers.CharField(source="kpi.direction")
    status = serializers.ChoiceField(choices=[status.value for status in TargetStatus])
    trend = serializers.ChoiceField(choices=Trend.choices)

    class Meta:
        model = ReviewKPI
        fields = ["id", "kpi", "kpi_name", "kpi_version", "unit", "direction", "dimension", "segment", "as_of",
                  "value", "target", "previous_value", "trend", "status", "commentary"]


class AttachedScenarioOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(help_text="Its projection: GET /api/v1/scenarios/{id}/.")


class ReviewOut(serializers.ModelSerializer):
    facilitator = serializers.EmailField(source="facilitator.email", allow_null=True, default=None)
    attendees = serializers.SlugRelatedField(slug_field="email", many=True, read_only=True)
    kpis = ReviewKPIOut(many=True, read_only=True, help_text="The KPI snapshot, frozen when the review was created.")
    scenarios = AttachedScenarioOut(many=True, read_only=True, help_text="The scenarios attached to the review.")

    class Meta:
        model = Review
        fields = ["id", "quarter", "name", "status", "meeting_date", "facilitator", "attendees", "created_at",
                  "started_at", "closed_at", "kpis", "scenarios"]


class AgendaExperimentOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    playbook = serializers.CharField(source="playbook.name")
    decision = serializers.CharField(help_text="adopt, stop or extend")
    decision_note = serializers.CharField()
    result = serializers.CharField(help_text="The measured result the decision was taken on.")
    decided_by = serializers.EmailField(source="decided_by.email", allow_null=True, default=None)
    decided_at = serializers.DateTimeField()


class ReviewDetailOut(ReviewOut):
    """A review with what its agenda hears beyond the KPIs: the experiment decisions taken since the last one."""

    experiments_decided = serializers.SerializerMethodField(
        help_text="Experiments concluded since the previous review (adopt, stop, extend): each comes up once.")

    class Meta(ReviewOut.Meta):
        fields = [*ReviewOut.Meta.fields, "experiments_decided"]

    @extend_schema_field(AgendaExperimentOut(many=True))
    def get_experiments_decided(self, review: Review) -> list[dict]:
        return AgendaExperimentOut(experiments_for_agenda(review=review), many=True).data


class ReviewIn(serializers.Serializer):
    quarter = serializers.RegexField(QUARTER_PATTERN, help_text="YYYY-Qn, e.g. 2026-Q4",
                                     error_messages={"invalid": "Write the quarter YYYY-Qn, e.g. 2026-Q4."})
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="",
                                 help_text="Only needed for a second review of the same quarter.")
    meeting_date = serializers.DateField(required=False, allow_null=True, default=None)
    facilitator = _active_user(required=False, allow_null=True, default=None)
    attendees = _active_user(many=True, required=False, default=list)
    kpis = _kpi(many=True, required=False, default=list,
                help_text="KPIs to snapshot besides those flagged for review (slugs).")
    segment_dimensions = serializers.ListField(
        child=serializers.CharField(max_length=20), required=False, default=list,
        help_text=f"Also snapshot the segment rows of these dimensions: {', '.join(DIMENSIONS)}.")


class ReviewPatch(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    meeting_date = serializers.DateField(required=False, allow_null=True)
    facilitator = _active_user(required=False, allow_null=True)
    attendees = _active_user(many=True, required=False)


class CommentaryIn(serializers.Serializer):
    commentary = serializers.CharField(max_length=10000, allow_blank=True)


class DecisionUpdateOut(serializers.ModelSerializer):
    author = serializers.EmailField(source="author.email", allow_null=True, default=None)

    class Meta:
        model = DecisionUpdate
        fields = ["id", "created_at", "author", "note", "status"]


class DecisionOut(serializers.ModelSerializer):
    review = serializers.IntegerField(source="review_id")
    quarter = serializers.CharField(source="review.quarter")
    kpi = serializers.CharField(source="kpi.slug", allow_null=True, default=None)
    owner = serializers.EmailField(source="owner.email")
    applied_target = serializers.IntegerField(source="applied_target_id", allow_null=True,
                                              help_text="The KPI target row this decision set when its review closed.")
    updates = DecisionUpdateOut(many=True, read_only=True, help_text="Dated progress updates, oldest first.")

    class Meta:
        model = Decision
        fields = ["id", "review", "quarter", "kind", "text", "kpi", "owner", "deadline", "status", "new_target",
                  "target_period", "target_rationale", "applied_target", "created_at", "updated_at", "completed_at",
                  "updates"]


class DecisionIn(serializers.Serializer):
    review = serializers.PrimaryKeyRelatedField(queryset=Review.objects.all())
    kind = serializers.ChoiceField(choices=DecisionKind.choices)
    text = serializers.CharField(max_length=5000)
    kpi = _kpi(required=False, allow_null=True, default=None)
    owner = _active_user()
    deadline = serializers.DateField()
    new_target = serializers.FloatField(required=False, allow_null=True, default=None,
                                        help_text="change_target: the new target.")
    target_period = serializers.RegexField(QUARTER_PATTERN, required=False, allow_blank=True, default="",
                                           help_text="change_target: YYYY-Qn (default: the next quarter).")
    target_rationale = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000,
                                             help_text="change_target: why the target changes.")


class DecisionPatch(serializers.Serializer):
    kind = serializers.ChoiceField(choices=DecisionKind.choices, required=False)
    text = serializers.CharField(max_length=5000, required=False)
    kpi = _kpi(required=False, allow_null=True)
    owner = _active_user(required=False)
    deadline = serializers.DateField(required=False)
    new_target = serializers.FloatField(required=False, allow_null=True)
    target_period = serializers.RegexField(QUARTER_PATTERN, required=False, allow_blank=True)
    target_rationale = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    status = serializers.ChoiceField(choices=DecisionStatus.choices, required=False,
                                     help_text="`missed` is set automatically once the deadline passes.")
    note = serializers.CharField(required=False, allow_blank=True, max_length=5000,
                                 help_text="Recorded as a progress update with the change.")


class ProgressIn(serializers.Serializer):
    note = serializers.CharField(max_length=5000)
    status = serializers.ChoiceField(choices=DecisionStatus.choices, required=False)
