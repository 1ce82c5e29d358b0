"""Playbook effectiveness: run and task rates, breaches resolved and how fast, and the KPI's change a month
after the breach beside a control group of breaches that got no run, in a fixed number of queries."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from playbooks.effectiveness import (
    KPIChange,
    Window,
    effectiveness_explained,
    playbook_effectiveness,
    playbooks_effectiveness,
)
from tests.accounts.factories import AccountFactory
from tests.playbooks.factories import (
    AlertRuleFactory,
    PlaybookFactory,
    PlaybookStepFactory,
    breach,
    day,
    effectiveness_story,
    run,
    task,
    value,
)


@pytest.fixture
def story():
    return effectiveness_story()


def test_runs_and_completion_rate_counts_only_finished_runs(story):
    report = playbook_effectiveness(playbook=story)

    assert (report.runs, report.active, report.completed, report.recovered, report.cancelled) == (4, 1, 1, 1, 1)
    assert report.completion_rate == pytest.approx(2 / 3)


def test_on_time_rate_is_tasks_done_by_their_due_time_over_tasks_done(story):
    report = playbook_effectiveness(playbook=story)

    assert (report.tasks_done, report.tasks_on_time, report.on_time_rate) == (4, 3, 0.75)


def test_breaches_resolved_and_the_median_time_to_resolution(story):
    report = playbook_effectiveness(playbook=story)

    assert (report.breach_runs, report.breaches_resolved) == (3, 2)
    assert report.resolved_rate == pytest.approx(2 / 3)
    assert report.median_time_to_resolution == dt.timedelta(hours=72)
    assert report.median_hours_to_resolution == 72


def test_kpi_change_uses_the_value_nearest_to_thirty_days_after_the_breach(story):
    report = playbook_effectiveness(playbook=story)

    # 40 -> 55, 50 -> 58 (day 29 beats day 33), 30 -> 31
    assert report.kpi_change == KPIChange(n=3, mean=8.0, median=8.0)


def test_control_group_is_breaches_of_the_same_rule_that_got_no_run(story):
    report = playbook_effectiveness(playbook=story)

    # 45 -> 47 and 20 -> 16; the breach with no value a month later, another rule's breach and another
    # playbook's breach are left out.
    assert report.control == KPIChange(n=2, mean=-1.0, median=-1.0)
    assert report.uplift == 9.0


def test_a_window_counts_runs_started_and_control_breaches_opened_in_it(story):
    report = playbook_effectiveness(playbook=story, window=Window(start=dt.date(2026, 7, 1),
                                                                  end=dt.date(2026, 7, 5)))

    assert (report.runs, report.completed, report.recovered, report.completion_rate) == (2, 1, 1, 1.0)
    assert (report.tasks_done, report.tasks_on_time) == (4, 3)
    assert report.median_hours_to_resolution == 72
    assert report.kpi_change == KPIChange(n=2, mean=11.5, median=11.5)
    assert report.control == KPIChange(n=1, mean=2.0, median=2.0)


def test_a_window_with_nothing_in_it_reports_zeros_and_no_rates(story):
    report = playbook_effectiveness(playbook=story, window=Window(start=dt.date(2025, 1, 1),
                                                                  end=dt.date(2025, 3, 31)))

    assert (report.runs, report.tasks_done, report.breach_runs) == (0, 0, 0)
    assert (report.completion_rate, report.on_time_rate, report.resolved_rate) == (None, None, None)
    assert report.median_time_to_resolution is None
    assert report.kpi_change == KPIChange() == report.control
    assert report.uplift is None


def test_a_playbook_never_run_still_shows_its_rules_control_group():
    rule = AlertRuleFactory()
    playbook = PlaybookFactory(trigger="alert", alert_rule=rule)
    unworked = breach(rule=rule, account=AccountFactory(), opened=day(0), value=60)
    value(kpi=rule.kpi, account=unworked.account, as_of=day(30).date(), value=48)

    report = playbook_effectiveness(playbook=playbook)

    assert (report.runs, report.kpi_change) == (0, KPIChange(n=0, mean=None, median=None))
    assert report.control == KPIChange(n=1, mean=-12.0, median=-12.0)
    assert report.uplift is None


def test_a_manual_playbook_has_no_control_group():
    playbook = PlaybookFactory(trigger="manual")
    step = PlaybookStepFactory(playbook=playbook)
    task(playbook_run=run(playbook=playbook, started=day(0), status="completed"), step=step, due=day(2),
         completed=day(1))

    report = playbook_effectiveness(playbook=playbook)

    assert (report.runs, report.completion_rate, report.on_time_rate) == (1, 1.0, 1.0)
    assert (report.breach_runs, report.resolved_rate) == (0, None)
    assert report.control == KPIChange(n=0)


def test_reports_come_back_in_the_order_asked_and_cost_three_queries_however_many(story):
    quiet = PlaybookFactory(name="Quiet")
    with CaptureQueriesContext(connection) as one:
        playbooks_effectiveness(playbooks=[story])
    for _ in range(5):
        extra = PlaybookFactory()
        step = PlaybookStepFactory(playbook=extra)
        task(playbook_run=run(playbook=extra, started=day(0), status="completed"), step=step, due=day(1),
             completed=day(1))

    from playbooks.models import Playbook

    playbooks = [quiet, *Playbook.objects.exclude(pk=quiet.pk).order_by("-name")]
    with CaptureQueriesContext(connection) as many:
        reports = playbooks_effectiveness(playbooks=playbooks)

    assert len(one.captured_queries) == len(many.captured_queries) == 3
    assert [report.playbook for report in reports] == playbooks
    assert [report.runs for report in reports] == [0 if p == quiet else 4 if p == story else 1 for p in playbooks]


def test_no_playbooks_no_queries(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert playbooks_effectiveness(playbooks=[]) == []


def test_the_explanation_says_it_in_plain_words(story):
    assert effectiveness_explained(playbook_effectiveness(playbook=story)) == [
        "4 runs: of the 3 that ended, 1 had every task done and 1 closed because the KPI recovered first (their "
        "work unfinished); 1 is still under way.",
        "3 of 4 tasks done were done by their due time.",
        "2 of the 3 breaches that started a run are resolved; half of them within 3.0 days.",
        "About 30 days after the breach, the KPI had moved by +8.0 on average for the 3 accounts the playbook "
        "worked on.",
        "For the 2 breached accounts of the same rule that got no run, it moved by -1.0.",
        "With the playbook the KPI did better by 9.0. Accounts were not chosen at random for the playbook, so "
        "read this as a signal, not proof; with so few accounts the difference may be chance.",
    ]


def test_a_rise_is_worse_when_lower_is_better(story):
    kpi = story.alert_rule.kpi
    kpi.direction, kpi.unit = "lower", "percent"
    kpi.save()
    story.refresh_from_db()

    verdict = effectiveness_explained(playbook_effectiveness(playbook=story))[-1]

    assert verdict.startswith("With the playbook the KPI did worse by 9.0 points.")


def test_without_a_control_group_the_explanation_says_there_is_nothing_to_compare():
    rule = AlertRuleFactory()
    playbook = PlaybookFactory(trigger="alert", alert_rule=rule)
    worked = breach(rule=rule, account=AccountFactory(), opened=day(0), value=40)
    value(kpi=rule.kpi, account=worked.account, as_of=day(30).date(), value=50)
    run(playbook=playbook, started=day(0), breach=worked)

    sentences = effectiveness_explained(playbook_effectiveness(playbook=playbook))

    assert sentences[-1].startswith("No breached account of this rule went without a run")
    assert not any("did better" in sentence for sentence in sentences)
