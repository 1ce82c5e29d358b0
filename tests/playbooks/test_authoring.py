"""Saving a playbook with its steps: the one write path of the API and the editor, and its rules."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from playbooks.authoring import playbook_save
from playbooks.models import Playbook
from tests.playbooks.factories import PlaybookFactory, PlaybookStepFactory


def test_steps_are_stored_in_the_order_given_and_numbered_from_one():
    playbook = playbook_save(fields={"name": "Check-in"},
                             steps=[{"title": "Call"}, {"title": "Email", "kind": "email"}])

    assert list(playbook.steps.values_list("position", "title", "kind")) == [(1, "Call", "call"), (2, "Email", "email")]


def test_swapping_two_steps_keeps_both_rows():
    playbook = PlaybookFactory()
    first, second = (PlaybookStepFactory(playbook=playbook, position=n, title=title)
                     for n, title in ((1, "First"), (2, "Second")))

    playbook_save(playbook=playbook, fields={}, steps=[{"id": second.pk, "title": "Second"},
                                                       {"id": first.pk, "title": "First"}])

    assert list(playbook.steps.values_list("pk", "position")) == [(second.pk, 1), (first.pk, 2)]


@pytest.mark.parametrize(("fields", "steps", "errors"), [
    ({"name": "x"}, None, {"steps": ["A playbook needs at least one step."]}),
    ({"name": "x", "trigger": "alert"}, [{"title": "Call"}],
     {"alert_rule": ["An alert-triggered playbook needs the alert rule that starts it."]}),
    ({"name": "x"}, [{"title": "Call"}, {"title": "Queue", "assignee_rule": "role_queue"}],
     {"steps": ["Step 2: A step for a role's queue needs the role: one of admin, leader, manager, csm, viewer."]}),
    ({"name": "x"}, [{"title": ""}], {"steps": ["Step 1: title: This field cannot be blank."]}),
])
def test_a_broken_rule_saves_nothing_and_says_which_field(fields, steps, errors):
    with pytest.raises(ValidationError) as raised:
        playbook_save(fields=fields, steps=steps)

    assert raised.value.message_dict == errors
    assert not Playbook.objects.filter(name="x").exists()
