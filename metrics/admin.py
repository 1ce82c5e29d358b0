"""Operators' view of KPIs, their versions and targets, values and computation runs."""

from django.contrib import admin

from metrics.models import KPI, AlertRule, Breach, ComputationRun, KPITarget, KPIVersion, MetricValue


class KPIVersionInline(admin.TabularInline):
    model = KPIVersion
    extra = 0
    readonly_fields = ["version", "calculator", "params", "changed_by", "reason", "created_at"]
    can_delete = False


class KPITargetInline(admin.TabularInline):
    model = KPITarget
    extra = 0
    readonly_fields = ["period", "dimension", "segment", "value", "baseline", "set_by", "reason", "created_at",
                       "superseded_at"]
    can_delete = False


@admin.register(KPI)
class KPIAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "tier", "calculator", "unit", "direction", "cadence", "owner", "is_core",
                    "is_active", "version"]
    list_filter = ["tier", "is_core", "is_active", "cadence"]
    search_fields = ["name", "slug", "definition"]
    list_select_related = ["owner"]
    # Calculator and params change through the API or the KPI page, where a new version is recorded.
    readonly_fields = ["calculator", "params", "version"]
    inlines = [KPIVersionInline, KPITargetInline]


class MadeByTheEngine:
    """Runs and breaches are records of what the engine did: shown, never added by hand (a form of read-only
    fields would save an empty row)."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ComputationRun)
class ComputationRunAdmin(MadeByTheEngine, admin.ModelAdmin):
    list_display = ["id", "as_of", "trigger", "status", "kpis_done", "values_computed", "rows_written",
                    "created_at", "finished_at"]
    list_filter = ["status", "trigger"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in ComputationRun._meta.fields] + ["kpi_slugs", "account_ids", "errors"]


@admin.register(MetricValue)
class MetricValueAdmin(admin.ModelAdmin):
    list_display = ["as_of", "kpi", "scope", "account", "dimension", "segment", "value", "numerator",
                    "denominator", "sample_size", "kpi_version"]
    list_filter = ["scope", "kpi"]
    list_select_related = ["kpi", "account"]
    raw_id_fields = ["account", "run"]
    date_hierarchy = "as_of"
    show_full_result_count = False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "kpi", "scope", "condition", "threshold", "severity", "persistence", "hysteresis",
                    "cooldown_hours", "action", "is_active"]
    list_filter = ["severity", "condition", "scope", "is_active"]
    search_fields = ["name", "kpi__name"]
    list_select_related = ["kpi"]


@admin.register(Breach)
class BreachAdmin(MadeByTheEngine, admin.ModelAdmin):
    list_display = ["opened_at", "rule", "kpi", "account", "segment", "severity", "status", "value_at_open",
                    "threshold", "respond_by", "resolved_at"]
    list_filter = ["status", "severity", "kpi"]
    list_select_related = ["rule", "kpi", "account"]
    raw_id_fields = ["account"]
    date_hierarchy = "opened_at"
    readonly_fields = [field.name for field in Breach._meta.fields]
