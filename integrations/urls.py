from django.urls import path

from integrations import views

urlpatterns = [
    path("data/import/", views.csv_import, name="csv_import"),
    path("data/import/<int:pk>/", views.csv_import_detail, name="csv_import_detail"),
    path("settings/api-keys/", views.api_keys, name="api_keys"),
    path("settings/api-keys/<int:pk>/revoke/", views.api_key_revoke_view, name="api_key_revoke"),
]
