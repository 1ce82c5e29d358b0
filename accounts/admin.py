"""Operator views of customer data: searchable, filterable, and cheap on large tables."""

from django.contrib import admin

from accounts.models import (
    Account,
    RevenueSnapshot,
    SupportTicket,
    SurveyResponse,
    UsageDaily,
    UsageEvent,
    UserDaily,
)


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["name", "external_id", "plan", "region", "industry", "lifecycle_stage", "status",
                    "owner", "renewal_date", "licensed_seats"]
    list_filter = ["status", "lifecycle_stage", "plan", "region", "industry"]
    search_fields = ["name", "external_id"]
    list_select_related = ["owner"]
    autocomplete_fields = ["owner"]
    date_hierarchy = "start_date"


class AccountChildAdmin(admin.ModelAdmin):
    """Rows that hang off an account: show and search by the account, never load it row by row."""

    list_select_related = ["account"]
    raw_id_fields = ["account"]
    search_fields = ["account__name", "account__external_id"]


@admin.register(UsageEvent)
class UsageEventAdmin(AccountChildAdmin):
    list_display = ["occurred_at", "account", "user_id", "event_name", "idempotency_key"]
    list_filter = ["event_name"]
    search_fields = [*AccountChildAdmin.search_fields, "idempotency_key", "user_id"]
    date_hierarchy = "occurred_at"
    # Counting millions of events for the paginator would dominate the page.
    show_full_result_count = False


@admin.register(UsageDaily)
class UsageDailyAdmin(AccountChildAdmin):
    list_display = ["day", "account", "event_name", "events", "distinct_users"]
    list_filter = ["event_name"]
    date_hierarchy = "day"
    show_full_result_count = False


@admin.register(UserDaily)
class UserDailyAdmin(AccountChildAdmin):
    list_display = ["day", "account", "user_id", "events"]
    date_hierarchy = "day"
    show_full_result_count = False


@admin.register(RevenueSnapshot)
class RevenueSnapshotAdmin(AccountChildAdmin):
    list_display = ["month", "account", "mrr"]
    date_hierarchy = "month"


@admin.register(SurveyResponse)
class SurveyResponseAdmin(AccountChildAdmin):
    list_display = ["responded_at", "account", "kind", "score", "respondent", "comment"]
    list_filter = ["kind", "score"]
    search_fields = [*AccountChildAdmin.search_fields, "comment", "respondent", "external_id"]
    date_hierarchy = "responded_at"


@admin.register(SupportTicket)
class SupportTicketAdmin(AccountChildAdmin):
    list_display = ["opened_at", "account", "subject", "priority", "first_response_at", "resolved_at",
                    "handling_minutes"]
    list_filter = ["priority"]
    search_fields = [*AccountChildAdmin.search_fields, "subject", "external_id"]
    date_hierarchy = "opened_at"
