"""Saving scenarios: the drivers checked, today's numbers frozen beside them, and attaching one to a review."""

from __future__ import annotations

from dataclasses import asdict

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import InvalidInput
from reviews.models import Review, Scenario
from reviews.scenario_inputs import scenario_today
from reviews.scenarios import Drivers


def drivers_checked(values: dict) -> Drivers:
    """The drivers from `values`, or a 400 naming each field out of range."""
    drivers = Drivers(**{name: float(values[name]) for name in Drivers.names() if name in values})
    problems = drivers.problems()
    if problems:
        raise InvalidInput("Some drivers are out of range.", errors=[
            {"index": None, "field": name, "message": message} for name, message in problems.items()])
    return drivers


@transaction.atomic
def scenario_save(*, name: str, values: dict, user, notes: str = "", review: Review | None = None,
                  scenario: Scenario | None = None) -> Scenario:
    """Create (or, given `scenario`, change) a named scenario; today's baseline and drivers are frozen with it."""
    if not name.strip():
        raise InvalidInput("A scenario needs a name.", errors=[{"index": None, "field": "name",
                                                                "message": "This field is required."}])
    drivers = drivers_checked(values)
    baseline, trajectory = scenario_today(today=timezone.localdate())
    scenario = scenario or Scenario(created_by=user)
    scenario.name, scenario.notes, scenario.review = name.strip(), notes, review
    for driver, value in drivers.as_dict().items():
        setattr(scenario, driver, value)
    scenario.baseline, scenario.trajectory = asdict(baseline), trajectory.as_dict()
    try:
        with transaction.atomic():
            scenario.save()
    except IntegrityError:
        raise InvalidInput(f"A scenario named '{scenario.name}' exists already.", errors=[
            {"index": None, "field": "name", "message": "Already used."}]) from None
    return scenario
