from django.contrib import admin

from users.models import User


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ["email", "full_name", "role", "manager", "is_active", "last_login"]
    list_filter = ["role", "is_active"]
    search_fields = ["email", "full_name"]
    list_select_related = ["manager"]
    autocomplete_fields = ["manager"]
    exclude = ["password"]
    readonly_fields = ["last_login", "date_joined"]
