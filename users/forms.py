"""Forms of the settings pages: inviting a user and changing their role and manager."""

from __future__ import annotations

from django import forms

from users.models import Role, User
from users.services import MANAGER_ROLES


class ManagerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:
        return f"{obj} ({obj.get_role_display()})"


def _managers() -> ManagerChoiceField:
    return ManagerChoiceField(
        queryset=User.objects.filter(is_active=True, role__in=MANAGER_ROLES).order_by("full_name", "email"),
        required=False, empty_label="No manager",
        help_text="Escalations of this user's overdue work go to the manager.",
    )


class UserInviteForm(forms.Form):
    email = forms.EmailField(max_length=254)
    full_name = forms.CharField(max_length=200, required=False, label="Full name")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.CSM)
    manager = _managers()


class UserEditForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
    manager = _managers()

    def __init__(self, *args, user: User, **kwargs) -> None:
        super().__init__(*args, initial={"role": user.role, "manager": user.manager_id}, **kwargs)
        manager = self.fields["manager"]
        manager.queryset = manager.queryset.exclude(pk=user.pk)  # nobody manages themselves
