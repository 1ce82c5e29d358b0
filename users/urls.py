from django.contrib.auth import views as auth_views
from django.urls import path

from users import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("settings/", views.settings_home, name="settings"),
    path("settings/users/", views.settings_users, name="settings_users"),
    path("settings/users/<int:pk>/", views.settings_user_edit, name="settings_user_edit"),
    path("settings/users/<int:pk>/deactivate/", views.settings_user_deactivate, name="settings_user_deactivate"),
    path("settings/users/<int:pk>/reactivate/", views.settings_user_reactivate, name="settings_user_reactivate"),
]
