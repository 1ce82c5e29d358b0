"""The playbook editor's forms (the playbook, its ordered steps as a formset) and the effectiveness window.

The rules come from playbooks.authoring, the same the API applies, so the page shows the same message next
to the field that the API returns under its name.
"""

from __future__ import annotations

from datetime import date

from django import forms
from django.core.exceptions import ValidationError
from django.forms import BaseInlineFormSet, inlineformset_factory

from metrics.models import AlertRule
from playbooks.authoring import PLAYBOOK_FIELDS, STEP_FIELDS, playbook_problems, playbook_save, step_problems
from playbooks.effectiveness import Window
from playbooks.models import Playbook, PlaybookStep
from users.models import Role, User


class PlaybookForm(forms.ModelForm):
    alert_rule = forms.ModelChoiceField(queryset=AlertRule.objects.select_related("kpi").order_by("name"),
                                        required=False, help_text="For playbooks an alert rule starts.")

    class Meta:
        model = Playbook
        fields = list(PLAYBOOK_FIELDS)
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["alert_rule"].label_from_instance = lambda rule: f"{rule.name} ({rule.kpi.name})"

    def clean(self) -> dict:
        data = super().clean()
        for name, message in playbook_problems(trigger=data.get("trigger"), alert_rule=data.get("alert_rule"),
                                               renewal_days=data.get("renewal_days")).items():
            self.add_error(name, message)
        return data


class StepForm(forms.ModelForm):
    queue_role = forms.ChoiceField(choices=[("", "—"), *Role.choices], required=False,
                                   help_text="For a role's queue.")

    class Meta:
        model = PlaybookStep
        fields = list(STEP_FIELDS)
        widgets = {"instructions": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, assignee_choices: list[tuple] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = User.objects.filter(is_active=True)
        if assignee_choices is not None:
            # One list of people for every step's menu, not one query per step.
            self.fields["assignee"].choices = assignee_choices

    def clean(self) -> dict:
        data = super().clean()
        for name, message in step_problems(assignee_rule=data.get("assignee_rule"), assignee=data.get("assignee"),
                                           queue_role=data.get("queue_role", "")).items():
            self.add_error(name, message)
        return data


class BaseStepFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        if any(self.errors) or self.non_form_errors():
            return
        kept = [form for form in self.forms
                if (form in self.initial_forms or form.has_changed()) and not self._should_delete_form(form)]
        if not kept:
            raise ValidationError("A playbook needs at least one step.")


def step_formset(*, playbook: Playbook, data=None) -> BaseInlineFormSet:
    """The steps of `playbook` (new or stored) in order, and a blank row to add a step."""
    people = [("", "—"), *((user.pk, str(user)) for user in User.objects.filter(is_active=True))]
    formset_class = inlineformset_factory(Playbook, PlaybookStep, form=StepForm, formset=BaseStepFormSet,
                                          extra=1, can_order=True, can_delete=True)
    return formset_class(data, instance=playbook, queryset=PlaybookStep.objects.filter(playbook=playbook.pk)
                         .order_by("position") if playbook.pk else PlaybookStep.objects.none(),
                         form_kwargs={"assignee_choices": people})


def playbook_editor_save(*, form: PlaybookForm, formset: BaseInlineFormSet) -> Playbook | None:
    """Save a valid editor through the same service as the API; a rule it breaks is put on the forms."""
    steps = [{"id": step_form.instance.pk, **{name: step_form.cleaned_data.get(name) for name in STEP_FIELDS}}
             for step_form in formset.ordered_forms]
    stored = Playbook.objects.get(pk=form.instance.pk) if form.instance.pk else None
    try:
        return playbook_save(playbook=stored, fields={name: form.cleaned_data.get(name) for name in PLAYBOOK_FIELDS},
                             steps=steps)
    except ValidationError as error:
        for name, messages in error.message_dict.items():
            for message in messages:
                if name in form.fields:
                    form.add_error(name, message)
                else:
                    formset.non_form_errors().append(message)
        return None


class WindowForm(forms.Form):
    """The days to report effectiveness for; `from` and `to` as in the API."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in ("from", "to"):
            self.fields[name] = forms.DateField(required=False, label=name.title(),
                                                widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("from"), data.get("to")
        if isinstance(start, date) and isinstance(end, date) and start > end:
            self.add_error("to", "The end of the period is before its start.")
        return data

    def window(self) -> Window:
        return Window(start=self.cleaned_data.get("from"), end=self.cleaned_data.get("to"))
