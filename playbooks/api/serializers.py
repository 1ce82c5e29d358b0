"""What the playbooks API reads and writes: a playbook with its ordered steps, and its effectiveness."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.fields import get_error_detail

from core.api.serializers import BoundedModelSerializer, id_field
from playbooks.authoring import RENEWAL_DAYS_MAX, playbook_problems, playbook_save, step_problems
from playbooks.effectiveness import FOLLOW_UP_DAYS, PlaybookEffectiveness
from playbooks.models import AssigneeRule, Playbook, PlaybookStep, Trigger
from users.models import User


class StepIO(BoundedModelSerializer):
    id = id_field(PlaybookStep, required=False, help_text="Updating: an existing step's id keeps that step (and its "
                                                          "tasks' history); steps left out are removed.")
    assignee = serializers.SlugRelatedField(slug_field="email", queryset=User.objects.filter(is_active=True),
                                            required=False, allow_null=True)
    position = serializers.IntegerField(min_value=1, max_value=1000, required=False,
                                        help_text="Order of the step; steps are stored renumbered 1, 2, 3 ...")

    class Meta:
        model = PlaybookStep
        fields = ["id", "position", "title", "instructions", "kind", "due_days", "assignee_rule", "assignee",
                  "queue_role"]

    def validate(self, attrs: dict) -> dict:
        problems = step_problems(assignee_rule=attrs.get("assignee_rule", AssigneeRule.ACCOUNT_OWNER),
                                 assignee=attrs.get("assignee"), queue_role=attrs.get("queue_role", ""))
        if problems:
            raise serializers.ValidationError(problems)
        return attrs


class PlaybookIO(BoundedModelSerializer):
    steps = StepIO(many=True, required=False, help_text="In order. Required on create; on update, when given, "
                                                        "they become the playbook's steps.")

    class Meta:
        model = Playbook
        fields = ["id", "name", "description", "trigger", "alert_rule", "renewal_days", "mode", "close_on_recovery",
                  "is_active", "steps"]
        read_only_fields = ["id"]
        extra_kwargs = {"renewal_days": {"max_value": RENEWAL_DAYS_MAX}}  # documented in the schema too

    def validate(self, attrs: dict) -> dict:
        steps = attrs.get("steps")
        if (steps is None and self.instance is None) or steps == []:
            raise serializers.ValidationError({"steps": "A playbook needs at least one step."})
        if steps:
            positions = [step["position"] for step in steps if "position" in step]
            if len(set(positions)) != len(positions):
                raise serializers.ValidationError({"steps": "Step positions must be unique."})
            if len(positions) == len(steps):
                attrs["steps"] = sorted(steps, key=lambda step: step["position"])

        def current(name: str):
            return attrs[name] if name in attrs else getattr(self.instance, name, None)

        problems = playbook_problems(trigger=current("trigger") or Trigger.MANUAL, alert_rule=current("alert_rule"),
                                     renewal_days=current("renewal_days"))
        if problems:
            raise serializers.ValidationError(problems)
        return attrs

    def _save(self, playbook: Playbook | None, validated_data: dict) -> Playbook:
        steps = validated_data.pop("steps", None)
        if steps is not None:
            steps = [{name: value for name, value in step.items() if name != "position"} for step in steps]
        try:
            return playbook_save(playbook=playbook, fields=validated_data, steps=steps)
        except DjangoValidationError as error:
            raise serializers.ValidationError(get_error_detail(error)) from None

    def create(self, validated_data: dict) -> Playbook:
        return self._save(None, validated_data)

    def update(self, instance: Playbook, validated_data: dict) -> Playbook:
        return self._save(instance, validated_data)


class KPIChangeOut(serializers.Serializer):
    n = serializers.IntegerField(help_text="Breaches with a value both at the breach and about a month later.")
    mean = serializers.FloatField(allow_null=True, help_text="Mean change of the KPI, in its unit.")
    median = serializers.FloatField(allow_null=True)


class EffectivenessOut(serializers.Serializer):
    """Rates are fractions from 0 to 1, null when there is nothing to divide by."""

    playbook = serializers.IntegerField(source="playbook.pk")
    name = serializers.CharField(source="playbook.name")
    start = serializers.DateField(source="window.start", allow_null=True, help_text="Runs started from this day.")
    end = serializers.DateField(source="window.end", allow_null=True, help_text="... to this day, included.")
    runs = serializers.IntegerField()
    active = serializers.IntegerField()
    completed = serializers.IntegerField()
    recovered = serializers.IntegerField(help_text="Closed because the breach resolved.")
    cancelled = serializers.IntegerField()
    completion_rate = serializers.FloatField(allow_null=True,
                                             help_text="(completed + recovered) / finished runs.")
    tasks_done = serializers.IntegerField()
    tasks_on_time = serializers.IntegerField()
    on_time_rate = serializers.FloatField(allow_null=True, help_text="Tasks done by their due time / tasks done.")
    breach_runs = serializers.IntegerField(help_text="Runs started by a breach.")
    breaches_resolved = serializers.IntegerField()
    resolved_rate = serializers.FloatField(allow_null=True)
    median_hours_to_resolution = serializers.FloatField(allow_null=True,
                                                        help_text="From the breach opening to its resolution.")
    follow_up_days = serializers.SerializerMethodField()
    kpi_change = KPIChangeOut(help_text="The KPI's change from the breach to about 30 days later, with a run.")
    control = KPIChangeOut(help_text="The same for breaches of the same rules that got no run (n=0: none).")
    uplift = serializers.FloatField(allow_null=True, help_text="kpi_change.mean - control.mean.")

    def get_follow_up_days(self, report: PlaybookEffectiveness) -> int:
        return FOLLOW_UP_DAYS
