"""Operators see keys, batches and feed limits here; keys are created on the API keys page, where the
secret can be shown once."""

from django.contrib import admin

from integrations.models import ApiKey, FeedPolicy, IngestBatch


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "scopes", "created_by", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "hashed_secret", "created_by", "created_at", "last_used_at"]
    list_select_related = ["created_by"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(IngestBatch)
class IngestBatchAdmin(admin.ModelAdmin):
    list_display = ["received_at", "kind", "source", "api_key", "accepted", "items", "created", "updated",
                    "duplicates", "error_count"]
    list_filter = ["kind", "accepted", "source"]
    list_select_related = ["api_key"]
    date_hierarchy = "received_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(FeedPolicy)
class FeedPolicyAdmin(admin.ModelAdmin):
    list_display = ["kind", "max_silence_hours", "alerted_at"]
    readonly_fields = ["alerted_at"]
