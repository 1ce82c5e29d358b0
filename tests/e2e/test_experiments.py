"""Experiments in a real browser: a leader pre-registers one on a playbook (the form sizes it), starts it,
and, once accounts have entered, records the decision; a CSM sees it for their own accounts only."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from playbooks.models import Arm, Experiment, ExperimentAssignment, PlaybookRun
from playbooks.services import playbook_run_start
from tests.accounts.factories import AccountFactory
from tests.playbooks.experiment_fixtures import playbook_with_a_step
from tests.users.factories import UserFactory
from users.models import Role

sync_api = pytest.importorskip("playwright.sync_api", reason="no browser driver: the playwright package is missing")
expect = sync_api.expect

if TYPE_CHECKING:
    from playwright.sync_api import Page


def test_a_leader_pre_registers_starts_and_concludes_an_experiment(page: Page, sign_in, screenshot):
    sign_in(Role.LEADER)
    playbook = playbook_with_a_step(name="Week-one kick-off call")

    page.goto("/experiments/")
    page.get_by_role("link", name="Pre-register an experiment").click()
    page.get_by_label("Name").fill("Kick-off call cuts early churn")
    page.get_by_label("Hypothesis").fill("A call in week one keeps accounts that would leave in their first quarter.")
    page.get_by_label("Playbook").select_option(label="Week-one kick-off call")
    page.get_by_label("Metric").select_option("churn")
    page.get_by_label("Horizon (days)").fill("90")
    page.get_by_label("Baseline").fill("20")
    page.get_by_label("Minimum effect").fill("-5")
    page.get_by_label("Holdout share").fill("0.5")
    page.get_by_label("Eligible accounts per week").fill("0")
    page.get_by_role("button", name="Pre-register").click()
    expect(page.get_by_text("accounts enter per week")).to_be_visible()  # refused, the field named
    page.get_by_label("Eligible accounts per week").fill("40")
    page.get_by_role("button", name="Pre-register").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Kick-off call cuts early churn")
    experiment = Experiment.objects.get()
    expect(page.get_by_text(f"{experiment.sample_treated} treated + {experiment.sample_holdout} held out")
           ).to_be_visible()
    page.get_by_role("button", name="Start the experiment").click()
    expect(page.get_by_text("are now held out")).to_be_visible()

    accounts = AccountFactory.create_batch(12)
    runs = [playbook_run_start(playbook=playbook, account=account) for account in accounts]
    page.reload()
    expect(page.locator("#look")).to_contain_text("Interim look")
    held = ExperimentAssignment.objects.filter(arm=Arm.HOLDOUT).count()
    assert held == sum(run is None for run in runs) and 0 < held < 12
    assert PlaybookRun.objects.count() == 12 - held
    screenshot("interim")

    page.get_by_label("Decision").select_option("stop")
    page.get_by_label("Note").fill("Too small to matter next to the pricing change")
    page.get_by_role("button", name="Record the decision").click()
    expect(page.locator("#decision")).to_contain_text("Stop")
    experiment.refresh_from_db()
    assert (experiment.status, experiment.decision) == ("concluded", "stop")


def test_a_csm_sees_only_their_accounts_arms(page: Page, sign_in):
    csm = sign_in(Role.CSM)
    playbook = playbook_with_a_step(name="Renewal prep")
    from playbooks.experiments.services import experiment_register, experiment_start

    experiment = experiment_register(user=None, name="Renewal prep lifts renewals", hypothesis="h",
                                     playbook=playbook, metric="churn", baseline=20, minimum_effect=-5,
                                     holdout_share=0.5, accounts_per_week=10, horizon_days=60)
    experiment_start(experiment=experiment, user=None)
    mine = AccountFactory(owner=csm, name="Mine Incorporated")
    theirs = AccountFactory(owner=UserFactory(), name="Someone Else Limited")
    for account in (mine, theirs):
        playbook_run_start(playbook=playbook, account=account)

    page.goto("/experiments/")
    page.get_by_role("link", name="Renewal prep lifts renewals").click()
    expect(page.get_by_role("cell", name="Mine Incorporated")).to_be_visible()
    expect(page.get_by_text("Someone Else Limited")).to_have_count(0)
    expect(page.get_by_role("button", name="Record the decision")).to_have_count(0)
