"""The people of one tenant: CSMs, their managers, leaders, admins and read-only viewers."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.db.models.functions import Lower

from core.api.scopes import Scope


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    LEADER = "leader", "CS leader"
    MANAGER = "manager", "CS manager"
    CSM = "csm", "CSM"
    VIEWER = "viewer", "Viewer"


# A person's role grants the scopes an API key would need for the same work.
ROLE_SCOPES = {
    Role.ADMIN: {Scope.INGEST, Scope.READ, Scope.ADMIN},
    Role.LEADER: {Scope.READ},
    Role.MANAGER: {Scope.READ},
    Role.CSM: {Scope.READ},
    Role.VIEWER: {Scope.READ},
}


class UserManager(BaseUserManager["User"]):
    def create_user(self, email: str, password: str | None = None, *, password_hash: str | None = None,
                    **fields) -> User:
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        if password_hash is None:
            user.set_password(password)
        else:
            user.password = password_hash
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> User:
        fields["role"] = Role.ADMIN
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser):
    """A person who signs in to one tenant. Email is the login; `role` decides what they may do."""

    email = models.EmailField(max_length=254, unique=True, help_text="Stored lower-case; the login.")
    full_name = models.CharField(max_length=200, blank=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.CSM)
    manager = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reports",
        help_text="Escalations of this user's overdue work go to the manager.",
    )
    is_active = models.BooleanField(default=True)
    password_change_required = models.BooleanField(
        default=False, help_text="Set for one-time passwords: the next login must choose a new one."
    )
    date_joined = models.DateTimeField(auto_now_add=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["full_name", "email"]
        constraints = [
            models.CheckConstraint(condition=models.Q(email=Lower("email")), name="user_email_lower_case"),
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="user_role_valid"
            ),
            models.CheckConstraint(
                condition=~models.Q(manager=models.F("id")), name="user_not_own_manager"
            ),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def is_staff(self) -> bool:
        """Only admins reach the Django admin."""
        return self.is_active and self.role == Role.ADMIN

    @property
    def is_superuser(self) -> bool:
        return self.is_staff

    def has_perm(self, perm: str, obj: object = None) -> bool:
        return self.is_staff

    def has_module_perms(self, app_label: str) -> bool:
        return self.is_staff

    @property
    def api_scopes(self) -> set[str]:
        """What this person may do through the API, as an API key would need it."""
        return {str(scope) for scope in ROLE_SCOPES.get(self.role, set())}

    @property
    def home_page(self) -> str:
        """The URL name of the page this person lands on: a CSM their work, a manager their team, everyone else
        the dashboard."""
        return {Role.CSM: "my_work", Role.MANAGER: "team"}.get(self.role, "dashboard")

    @property
    def leads_a_team(self) -> bool:
        """Managers see their team's queue; leaders and admins every CSM's."""
        return self.role in (Role.MANAGER, Role.LEADER, Role.ADMIN)

    @property
    def lands_on_dashboard(self) -> bool:
        """Leaders, managers, admins and viewers may open the dashboard; CSMs are sent to their work."""
        return self.role != Role.CSM
