"""Reviews, their snapshot rows and decisions, for operators."""

from django.contrib import admin

from reviews.models import Decision, DecisionReminder, DecisionUpdate, Review, ReviewKPI, Scenario


class ReviewKPIInline(admin.TabularInline):
    model = ReviewKPI
    extra = 0
    fields = ["kpi", "kpi_version", "dimension", "segment", "as_of", "value", "target", "previous_value", "trend",
              "status", "commentary"]
    readonly_fields = ["kpi", "kpi_version", "dimension", "segment", "as_of", "value", "target", "previous_value",
                       "trend", "status"]


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ["quarter", "name", "status", "meeting_date", "facilitator", "closed_at"]
    list_filter = ["status"]
    list_select_related = ["facilitator"]
    inlines = [ReviewKPIInline]


class DecisionUpdateInline(admin.TabularInline):
    model = DecisionUpdate
    extra = 0
    readonly_fields = ["created_at", "author", "note", "status"]


class DecisionReminderInline(admin.TabularInline):
    model = DecisionReminder
    extra = 0
    readonly_fields = ["kind", "sent_to", "sent_at"]


@admin.register(Decision)
class DecisionAdmin(admin.ModelAdmin):
    list_display = ["text", "review", "kind", "owner", "deadline", "status"]
    list_filter = ["status", "kind"]
    list_select_related = ["review", "owner"]
    raw_id_fields = ["review", "kpi", "owner", "applied_target"]
    search_fields = ["text"]
    inlines = [DecisionUpdateInline, DecisionReminderInline]


@admin.register(Scenario)
class ScenarioAdmin(admin.ModelAdmin):
    list_display = ["name", "review", "grr", "expansion", "logo_churn", "new_arr", "updated_at"]
    list_select_related = ["review"]
    search_fields = ["name"]
    raw_id_fields = ["review"]
