"""Writes to users: creating them with a role and clearing the one-time password flag."""

from __future__ import annotations

import secrets

from django.db import transaction

from users.models import Role, User


def one_time_password() -> str:
    return secrets.token_urlsafe(12)


@transaction.atomic
def user_create(
    *,
    email: str,
    role: str = Role.CSM,
    full_name: str = "",
    manager: User | None = None,
    password: str | None = None,
    password_change_required: bool = False,
) -> User:
    """Create a user in the current tenant. Without a password the account cannot sign in until one is set."""
    return User.objects.create_user(
        email=email,
        password=password,
        role=role,
        full_name=full_name,
        manager=manager,
        password_change_required=password_change_required,
    )


def user_password_changed(*, user: User) -> None:
    """The user chose their own password: stop sending them to the change form."""
    User.objects.filter(pk=user.pk, password_change_required=True).update(password_change_required=False)
