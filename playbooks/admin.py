"""Playbooks, their steps, runs and tasks for operators."""

from django.contrib import admin

from playbooks.models import Experiment, ExperimentAssignment, Playbook, PlaybookRun, PlaybookStep, Task, TaskEvent


class PlaybookStepInline(admin.TabularInline):
    model = PlaybookStep
    extra = 0
    autocomplete_fields = ["assignee"]


@admin.register(Playbook)
class PlaybookAdmin(admin.ModelAdmin):
    list_display = ["name", "trigger", "alert_rule", "mode", "close_on_recovery", "is_active"]
    list_filter = ["trigger", "mode", "is_active"]
    search_fields = ["name"]
    inlines = [PlaybookStepInline]


@admin.register(PlaybookRun)
class PlaybookRunAdmin(admin.ModelAdmin):
    list_display = ["started_at", "playbook", "account", "trigger", "status", "finished_at"]
    list_filter = ["status", "trigger", "playbook"]
    list_select_related = ["playbook", "account"]
    raw_id_fields = ["account", "breach"]


class TaskEventInline(admin.TabularInline):
    model = TaskEvent
    extra = 0
    readonly_fields = ["kind", "actor", "note", "created_at"]


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["title", "account", "assignee", "queue_role", "severity", "status", "due_at", "respond_by",
                    "escalation_level"]
    list_filter = ["status", "severity", "kind"]
    list_select_related = ["account", "assignee"]
    raw_id_fields = ["account", "run"]
    search_fields = ["title", "account__name"]
    inlines = [TaskEventInline]


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    """Read-mostly for operators: the pages and the API own the design's rules (nothing changes once started)."""

    list_display = ["name", "playbook", "status", "metric", "planned_end", "decision"]
    list_filter = ["status", "metric", "decision"]
    list_select_related = ["playbook"]
    search_fields = ["name"]
    raw_id_fields = ["playbook", "kpi"]


@admin.register(ExperimentAssignment)
class ExperimentAssignmentAdmin(admin.ModelAdmin):
    list_display = ["experiment", "account", "arm", "stratum", "entered_on"]
    list_filter = ["arm"]
    list_select_related = ["experiment", "account"]
    raw_id_fields = ["experiment", "account"]
