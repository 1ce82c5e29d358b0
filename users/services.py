"""Writes to users: creating and inviting them, their role and manager, deactivation, and the one-time
password flag. The rules that keep a tenant manageable (always an admin, no manager loops) live here."""

from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.db import transaction

from core.signals import changed_by_update
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
    password_hash: str | None = None,
    password_change_required: bool = False,
) -> User:
    """Create a user in the current tenant. Without a password the account cannot sign in until one is set.

    `password_hash`, instead of `password`: the password already hashed (`make_password`), by a caller that
    computed it meanwhile.
    """
    return User.objects.create_user(
        email=email,
        password=password,
        password_hash=password_hash,
        role=role,
        full_name=full_name,
        manager=manager,
        password_change_required=password_change_required,
    )


def user_password_changed(*, user: User) -> None:
    """The user chose their own password: stop sending them to the change form."""
    User.objects.filter(pk=user.pk, password_change_required=True).update(password_change_required=False)


MANAGER_ROLES = (Role.MANAGER, Role.LEADER, Role.ADMIN)


def _check_manager(*, user: User | None, manager: User | None) -> None:
    """A manager is an active manager, leader or admin, and not the user or anyone who reports to them:
    escalations climb the chain and must reach a person who can act, without looping."""
    if manager is None:
        return
    if not manager.is_active or manager.role not in MANAGER_ROLES:
        raise ValidationError({"manager": "Choose an active CS manager, leader or admin."})
    if user is None or user.pk is None:
        return
    seen: set[int] = set()
    current: User | None = manager
    while current is not None and current.pk not in seen:
        if current.pk == user.pk:
            raise ValidationError({"manager": f"{manager} reports to {user}; a manager cannot report to their "
                                              "own report."})
        seen.add(current.pk)
        current = current.manager


def _other_active_admins(*, user: User) -> int:
    """Active admins besides `user`, counted with their rows locked so two concurrent changes cannot both
    remove 'the other' admin."""
    return len(User.objects.select_for_update().filter(role=Role.ADMIN, is_active=True).exclude(pk=user.pk))


@transaction.atomic
def user_invite(*, email: str, role: str, full_name: str = "", manager: User | None = None) -> tuple[User, str]:
    """Create a user with a one-time password that must be changed at first sign-in; the password is
    returned once, to hand over, and stored only as a hash."""
    _check_manager(user=None, manager=manager)
    password = one_time_password()
    user = user_create(email=email, role=role, full_name=full_name, manager=manager, password=password,
                       password_change_required=True)
    return user, password


@transaction.atomic
def user_update(*, user: User, role: str, manager: User | None) -> User:
    """Change a user's role and manager. The tenant always keeps at least one active admin."""
    _check_manager(user=user, manager=manager)
    if user.role == Role.ADMIN and role != Role.ADMIN and user.is_active and not _other_active_admins(user=user):
        raise ValidationError({"role": f"{user} is the last active admin; make someone else admin first."})
    user.role, user.manager = role, manager
    user.full_clean(exclude=["password"])
    user.save(update_fields=["role", "manager"])
    return user


@transaction.atomic
def user_deactivate(*, user: User, actor: User) -> bool:
    """Stop a user signing in (their history, tasks and ownership stay). An admin cannot lock themselves out,
    nor the tenant out of its last admin. Returns whether anything changed."""
    if user.pk == actor.pk:
        raise ValidationError("You cannot deactivate yourself; ask another admin.")
    if user.role == Role.ADMIN and not _other_active_admins(user=user):
        raise ValidationError(f"{user} is the last active admin; make someone else admin first.")
    return _active_set(user=user, active=False)


@transaction.atomic
def user_reactivate(*, user: User) -> bool:
    """Let a deactivated user sign in again. Returns whether anything changed."""
    return _active_set(user=user, active=True)


def _active_set(*, user: User, active: bool) -> bool:
    """Compare-and-set the flag (a double click changes it once) and announce the change to the audit log,
    which sees no save() here."""
    changed = bool(User.objects.filter(pk=user.pk, is_active=not active).update(is_active=active))
    if changed:
        changed_by_update.send(sender=User, instance=user, action="reactivated" if active else "deactivated",
                               changes={"is_active": active})
    return changed
