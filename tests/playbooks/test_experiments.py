"""Experiments: pre-registration sizes the design, the holdout never gets a run, an account keeps its arm
(retries, concurrent starts), and the results use the analysis valid when they are read."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.utils import timezone

from accounts.models import RevenueSnapshot
from core.errors import InvalidInput
from playbooks.experiments.assignment import BLOCK, assignment_record, blocked_arm, hashed_arm
from playbooks.experiments.selectors import experiment_results
from playbooks.experiments.services import experiment_conclude, experiment_start, experiment_update
from playbooks.models import Arm, ExperimentAssignment, PlaybookRun
from playbooks.services import onboarding_runs_start, playbook_run_start, runs_start_for_breaches
from tests.accounts.factories import AccountFactory
from tests.playbooks.experiment_fixtures import churn_experiment, playbook_with_a_step
from tests.playbooks.factories import AlertRuleFactory, breach, value
from tests.users.factories import UserFactory
from users.models import Role


def test_pre_registration_sizes_the_design_and_its_duration():
    experiment = churn_experiment()
    # Fleiss with a 4:1 split for 20% -> 15% churn; the holdout arm is a fifth of the total.
    assert experiment.sample_holdout > 0 and experiment.sample_treated == 4 * experiment.sample_holdout
    assert experiment.test == "proportions" and experiment.status == "draft"
    total = experiment.sample_treated + experiment.sample_holdout
    assert experiment.duration_days == -(-total * 7 // 50)
    assert experiment.sample_method == "Fleiss normal approximation"


@pytest.mark.parametrize(("change", "field"), [
    ({"accounts_per_week": 0}, "accounts_per_week"),
    ({"holdout_share": 0.9}, "holdout_share"),
    ({"baseline": 3.0, "minimum_effect": -5.0}, "minimum_effect"),
    ({"metric": "kpi_change"}, "kpi"),
])
def test_a_design_that_cannot_be_judged_is_refused_naming_the_field(change, field):
    with pytest.raises(InvalidInput) as refused:
        churn_experiment(**change)
    assert field in {error["field"] for error in refused.value.errors}


def test_a_kpi_change_is_sized_as_a_t_test_and_a_rank_test_asks_for_more():
    from tests.metrics.factories import KPIFactory

    kpi = KPIFactory()
    welch = churn_experiment(metric="kpi_change", kpi=kpi, baseline=10.0, minimum_effect=5.0, holdout_share=0.5)
    assert (welch.test, welch.sample_holdout) == ("welch_t", 64)
    rank = churn_experiment(metric="kpi_change", kpi=kpi, baseline=10.0, minimum_effect=5.0, holdout_share=0.5,
                            test="mann_whitney")
    assert rank.sample_holdout == 68  # 64 x pi / 3, rounded up


def test_holdout_accounts_get_no_run_and_treated_ones_do():
    experiment = churn_experiment()
    experiment_start(experiment=experiment, user=experiment.created_by)
    accounts = AccountFactory.create_batch(40)
    runs = [playbook_run_start(playbook=experiment.playbook, account=account) for account in accounts]
    arms = dict(ExperimentAssignment.objects.filter(experiment=experiment).values_list("account_id", "arm"))
    assert len(arms) == 40
    for account, run in zip(accounts, runs, strict=True):
        assert (run is None) == (arms[account.pk] == Arm.HOLDOUT)
        assert arms[account.pk] == hashed_arm(experiment_id=experiment.pk, account_id=account.pk, holdout_share=0.2)
    held_out = [account for account in accounts if arms[account.pk] == Arm.HOLDOUT]
    assert held_out, "20% of 40 accounts: some are held out"
    assert not PlaybookRun.objects.filter(account__in=held_out).exists()
    # Asked again (a retry, a second click): the same answer, nothing new recorded.
    assert playbook_run_start(playbook=experiment.playbook, account=held_out[0]) is None
    assert ExperimentAssignment.objects.filter(experiment=experiment).count() == 40


def test_breaches_and_onboarding_skip_the_holdout():
    rule = AlertRuleFactory()
    playbook = playbook_with_a_step(trigger="alert", alert_rule=rule)
    experiment = churn_experiment(playbook=playbook, holdout_share=0.5)
    experiment_start(experiment=experiment, user=experiment.created_by)
    now = timezone.now()
    breaches = [breach(rule=rule, account=AccountFactory(), opened=now, value=10.0) for _ in range(30)]
    runs = runs_start_for_breaches(breach_ids=[b.pk for b in breaches])
    again = runs_start_for_breaches(breach_ids=[b.pk for b in breaches])  # the alert delivered twice
    holdout = set(ExperimentAssignment.objects.filter(experiment=experiment, arm=Arm.HOLDOUT)
                  .values_list("account_id", flat=True))
    assert 0 < len(holdout) < 30
    assert {run.account_id for run in runs} == {b.account_id for b in breaches} - holdout
    assert [run.pk for run in again] == [run.pk for run in runs]
    onboarding = playbook_with_a_step(trigger="account_created")
    experiment = churn_experiment(playbook=onboarding, holdout_share=0.5)
    experiment_start(experiment=experiment, user=experiment.created_by)
    newcomers = AccountFactory.create_batch(20)
    started = onboarding_runs_start(account_ids=[account.pk for account in newcomers])
    held = set(ExperimentAssignment.objects.filter(experiment=experiment, arm=Arm.HOLDOUT)
               .values_list("account_id", flat=True))
    assert held and {run.account_id for run in started} == {account.pk for account in newcomers} - held


def test_a_stratified_experiment_splits_every_stratum_in_the_planned_share():
    experiment = churn_experiment(stratify_by="plan", holdout_share=0.25)
    experiment_start(experiment=experiment, user=experiment.created_by)
    for plan in ("Starter", "Growth"):
        for account in AccountFactory.create_batch(2 * BLOCK, plan=plan):
            playbook_run_start(playbook=experiment.playbook, account=account)
        held = ExperimentAssignment.objects.filter(experiment=experiment, stratum=plan, arm=Arm.HOLDOUT).count()
        assert held == 2 * 5  # 5 of every block of 20
    # The blocks are a pure function of the experiment, stratum and position.
    arms = [blocked_arm(experiment_id=experiment.pk, stratum="Growth", position=p, holdout_share=0.25)
            for p in range(2 * BLOCK)]
    stored = list(ExperimentAssignment.objects.filter(experiment=experiment, stratum="Growth")
                  .order_by("id").values_list("arm", flat=True))
    assert stored == arms


def test_an_arm_recorded_by_another_transaction_first_stands(monkeypatch):
    """The moment between reading "no arm yet" and inserting: the insert does nothing and the stored arm wins."""
    experiment = churn_experiment()
    experiment_start(experiment=experiment, user=experiment.created_by)
    account = AccountFactory()
    drawn = hashed_arm(experiment_id=experiment.pk, account_id=account.pk, holdout_share=0.2)
    other = Arm.TREATED if drawn == Arm.HOLDOUT else Arm.HOLDOUT
    ExperimentAssignment.objects.create(experiment=experiment, account=account, arm=other,
                                        assigned_at=timezone.now(), entered_on=timezone.localdate())
    real_filter = ExperimentAssignment.objects.filter
    calls = []

    def first_read_misses(*args, **kwargs):
        calls.append(1)
        return real_filter(pk=-1) if len(calls) == 1 else real_filter(*args, **kwargs)

    monkeypatch.setattr(ExperimentAssignment.objects, "filter", first_read_misses)
    assert assignment_record(experiment=experiment, account=account) == other
    assert ExperimentAssignment.objects.filter(experiment=experiment).count() == 1


def _in_own_connection(tenant, errors: list, work) -> threading.Thread:
    """Run `work` in a thread with its own database connection (its own transactions), in the tenant."""
    def run():
        try:
            connection.set_tenant(tenant)
            work()
        except Exception as error:  # noqa: BLE001 - reported by the test's assertion
            errors.append(error)
        finally:
            connections.close_all()
    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.parametrize("stratify_by", ["", "plan"])
def test_concurrent_starts_for_one_account_record_one_arm(stratify_by, tenant):
    """Eight threads, each with its own database connection, draw the same account's arm at once."""
    errors, arms = [], []

    def in_own_connection(work):
        return _in_own_connection(tenant, errors, work)

    setup = {}

    def create():
        setup["experiment"] = churn_experiment(stratify_by=stratify_by)
        experiment_start(experiment=setup["experiment"], user=None)
        setup["account"] = AccountFactory()

    in_own_connection(create).join()
    assert not errors, errors
    barrier = threading.Barrier(8)

    def draw():
        barrier.wait()
        from django.db import transaction

        with transaction.atomic():
            arms.append(assignment_record(experiment=setup["experiment"], account=setup["account"]))

    try:
        for thread in [in_own_connection(draw) for _ in range(8)]:
            thread.join()
        assert not errors, errors
        assert len(arms) == 8 and len(set(arms)) == 1
        assert ExperimentAssignment.objects.filter(experiment=setup["experiment"]).count() == 1
    finally:
        def clean():
            experiment = setup["experiment"]
            playbook = experiment.playbook
            ExperimentAssignment.objects.filter(experiment=experiment).delete()
            owner = setup["account"].owner
            setup["account"].delete()
            owner.delete()
            experiment.delete()
            playbook.steps.all().delete()
            playbook.delete()
        in_own_connection(clean).join()


def test_concurrent_breaches_record_one_arm_per_account_and_no_run_for_the_holdout(tenant):
    """The same breaches handled by four workers at once, each in its own transaction (the alert delivered
    again while the first delivery runs): every account gets one arm, the one its hash draws, the treated ones
    one run each, the held-out ones none."""
    errors, setup = [], {}

    def create():
        rule = AlertRuleFactory()
        playbook = playbook_with_a_step(trigger="alert", alert_rule=rule)
        setup["experiment"] = churn_experiment(playbook=playbook, holdout_share=0.5)
        experiment_start(experiment=setup["experiment"], user=None)
        setup["breaches"] = [breach(rule=rule, account=AccountFactory(), opened=timezone.now(), value=10.0)
                             for _ in range(12)]

    _in_own_connection(tenant, errors, create).join()
    assert not errors, errors
    experiment, breach_ids = setup["experiment"], [b.pk for b in setup["breaches"]]
    barrier = threading.Barrier(4)

    def handle():
        barrier.wait()
        from django.db import transaction

        with transaction.atomic():
            runs_start_for_breaches(breach_ids=breach_ids)

    try:
        for thread in [_in_own_connection(tenant, errors, handle) for _ in range(4)]:
            thread.join()
        assert not errors, errors
        arms = dict(ExperimentAssignment.objects.filter(experiment=experiment).values_list("account_id", "arm"))
        accounts = {b.account_id for b in setup["breaches"]}
        assert set(arms) == accounts
        assert all(arm == hashed_arm(experiment_id=experiment.pk, account_id=account, holdout_share=0.5)
                   for account, arm in arms.items())
        runs = list(PlaybookRun.objects.filter(playbook=experiment.playbook).values_list("account_id", flat=True))
        treated = {account for account, arm in arms.items() if arm == Arm.TREATED}
        assert 0 < len(treated) < len(accounts)
        assert sorted(runs) == sorted(treated)
    finally:
        def clean():
            from playbooks.models import Task

            Task.objects.filter(run__playbook=experiment.playbook).delete()
            PlaybookRun.objects.filter(playbook=experiment.playbook).delete()
            ExperimentAssignment.objects.filter(experiment=experiment).delete()
            for made in setup["breaches"]:
                account, rule = made.account, made.rule
                made.delete()
                owner = account.owner
                account.delete()
                if owner is not None:
                    owner.delete()
            playbook, people = experiment.playbook, {experiment.created_by}
            people |= {step.assignee for step in playbook.steps.all()} | {rule.kpi.owner}
            experiment.delete()
            playbook.steps.all().delete()
            playbook.delete()
            kpi = rule.kpi
            rule.delete()
            kpi.delete()
            for person in people - {None}:
                person.delete()
        _in_own_connection(tenant, errors, clean).join()


def test_the_design_is_fixed_once_started_and_only_one_runs_per_playbook():
    experiment = churn_experiment()
    experiment_update(experiment=experiment, minimum_effect=-10.0)
    experiment.refresh_from_db()
    smaller = experiment.sample_holdout
    assert smaller < churn_experiment().sample_holdout
    experiment_start(experiment=experiment, user=None)
    with pytest.raises(InvalidInput, match="cannot change") as refused:
        experiment_update(experiment=experiment, minimum_effect=-1.0)
    assert refused.value.status_code == 409
    with pytest.raises(InvalidInput, match="Only a pre-registered"):
        experiment_start(experiment=experiment, user=None)
    second = churn_experiment(playbook=experiment.playbook)
    with pytest.raises(InvalidInput, match="Another experiment is running"):
        experiment_start(experiment=second, user=None)


def test_concluding_records_the_decision_and_ends_the_holdout():
    experiment = churn_experiment(holdout_share=0.5)
    experiment_start(experiment=experiment, user=None)
    leader = UserFactory(role=Role.LEADER)
    with pytest.raises(InvalidInput, match="Say why"):
        experiment_conclude(experiment=experiment, user=leader, decision="adopt")
    with pytest.raises(InvalidInput, match="Extending needs a number of days"):
        experiment_conclude(experiment=experiment, user=leader, decision="extend", note="Too few yet")
    end = experiment.planned_end
    extended = experiment_conclude(experiment=experiment, user=leader, decision="extend", note="Too few yet",
                                   extend_days=30)
    assert (extended.status, extended.planned_end) == ("running", end + dt.timedelta(days=30))
    adopted = experiment_conclude(experiment=experiment, user=leader, decision="adopt", note="Churn fell")
    assert (adopted.status, adopted.decision, adopted.decided_by) == ("concluded", "adopt", leader)
    accounts = AccountFactory.create_batch(10)
    assert all(playbook_run_start(playbook=experiment.playbook, account=account) for account in accounts)
    with pytest.raises(InvalidInput, match="Only a running"):
        experiment_conclude(experiment=experiment, user=leader, decision="stop", note="again")


def _enter(experiment, account, arm, day):
    ExperimentAssignment.objects.create(experiment=experiment, account=account, arm=arm, entered_on=day,
                                        assigned_at=dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC))


def _churned_ten_against_thirty_percent(experiment, start: dt.date) -> None:
    """100 treated accounts of which 10 churn within 30 days of `start`, 100 held out of which 30 do."""
    for arm, churned, kept in ((Arm.TREATED, 10, 90), (Arm.HOLDOUT, 30, 70)):
        for index in range(churned + kept):
            account = AccountFactory()
            _enter(experiment, account, arm, start)
            RevenueSnapshot.objects.create(account=account, month=dt.date(2026, 1, 1), mrr=Decimal(100))
            RevenueSnapshot.objects.create(account=account, month=dt.date(2026, 2, 1),
                                           mrr=Decimal(0 if index < churned else 100))


def test_churn_results_before_the_planned_end_are_always_valid_only():
    experiment = churn_experiment(horizon_days=30)
    experiment_start(experiment=experiment, user=None)
    start = dt.date(2026, 1, 5)
    today = start + dt.timedelta(days=90)
    _churned_ten_against_thirty_percent(experiment, start)
    late = AccountFactory()
    _enter(experiment, late, Arm.TREATED, today - dt.timedelta(days=5))  # its 30 days are not over: pending
    results = experiment_results(experiment=experiment, today=today)
    assert (results.treated_assigned, results.holdout_assigned, results.pending) == (101, 100, 1)
    assert results.look == "interim"
    primary = results.primary
    assert (primary.estimate.treated, primary.estimate.holdout) == (0.1, 0.3)
    assert primary.interim.effect == pytest.approx(-0.2)
    # The always-valid interval is wider than the fixed-horizon one, and is what the interim look shows.
    assert primary.interim.ci_low < primary.estimate.ci_low and primary.interim.ci_high > primary.estimate.ci_high
    # 10% vs 30% of 100 each: a naive p-value says 0.0004, but at an interim look that is not evidence yet.
    assert primary.estimate.p_value < 0.001 and primary.interim.p_value > 0.05
    assert primary.shown is primary.interim and primary.interim.ci_low < 0 < primary.interim.ci_high
    final = experiment_results(experiment=experiment, today=experiment.planned_end)
    assert final.look == "final" and final.primary.shown is final.primary.estimate


def test_renewal_results_count_the_accounts_whose_renewal_falls_in_their_horizon():
    experiment = churn_experiment(metric="renewal", baseline=80.0, minimum_effect=10.0, horizon_days=60)
    assert experiment.test == "proportions" and experiment.sample_method.startswith("Fleiss")
    experiment_start(experiment=experiment, user=None)
    start, today = dt.date(2026, 1, 5), dt.date(2026, 4, 15)
    for arm, lost, renewed in ((Arm.TREATED, 10, 90), (Arm.HOLDOUT, 30, 70)):
        for index in range(lost + renewed):
            # Renews every 1 February: on 2026-02-01, within 60 days of entry; read 30 days later.
            account = AccountFactory(renewal_date=dt.date(2025, 2, 1))
            _enter(experiment, account, arm, start)
            RevenueSnapshot.objects.create(account=account, month=dt.date(2026, 1, 1), mrr=Decimal(100))
            RevenueSnapshot.objects.create(account=account, month=dt.date(2026, 3, 1),
                                           mrr=Decimal(0 if index < lost else 100))
    _enter(experiment, AccountFactory(renewal_date=dt.date(2025, 6, 1)), Arm.TREATED, start)  # renews after
    _enter(experiment, AccountFactory(renewal_date=None), Arm.HOLDOUT, start)  # no renewal date
    _enter(experiment, AccountFactory(renewal_date=dt.date(2025, 4, 5)), Arm.TREATED, dt.date(2026, 4, 1))

    results = experiment_results(experiment=experiment, today=today)

    primary = results.primary
    assert primary.name == "Renewal at a renewal date within 60 days" and primary.unit == "share"
    assert (primary.estimate.n_treated, primary.estimate.n_holdout, results.pending) == (100, 100, 1)
    assert (primary.estimate.treated, primary.estimate.holdout) == (0.9, 0.7)
    assert primary.interim.effect == pytest.approx(0.2)


@pytest.mark.parametrize(("look", "expected"), [
    ("interim", "Churn within 30 days: -20.0 pts (95% CI -"),
    ("final", "Churn within 30 days: -20.0 pts (95% CI -30.6 pts to -9.0 pts), p < 0.001, final analysis; "
              "100 treated, 100 held out."),
])
def test_a_decision_keeps_the_measured_result_it_was_taken_on(look, expected):
    experiment = churn_experiment(horizon_days=30)
    experiment_start(experiment=experiment, user=None)
    _churned_ten_against_thirty_percent(experiment, dt.date(2026, 1, 5))
    when = (dt.date(2026, 4, 5) if look == "interim" else experiment.planned_end + dt.timedelta(days=1))
    decided = experiment_conclude(experiment=experiment, user=None, decision="adopt", note="Churn fell",
                                  now=dt.datetime.combine(when, dt.time(12), tzinfo=dt.UTC))
    assert decided.result.startswith(expected), decided.result
    assert ("always-valid interval, before the planned end" in decided.result) == (look == "interim")


def test_kpi_change_results_and_a_harmed_guardrail():
    from tests.metrics.factories import KPIFactory

    kpi, guardrail = KPIFactory(unit="score"), KPIFactory(name="CSAT", unit="percent", direction="higher")
    experiment = churn_experiment(metric="kpi_change", kpi=kpi, baseline=10.0, minimum_effect=5.0,
                                  horizon_days=30)
    experiment.guardrails.set([guardrail])
    experiment_start(experiment=experiment, user=None)
    start = dt.date(2026, 3, 2)
    for arm, gain, csat_drop in ((Arm.TREATED, 8.0, 20.0), (Arm.HOLDOUT, 0.0, 0.0)):
        for index in range(30):
            account = AccountFactory()
            _enter(experiment, account, arm, start)
            value(kpi=kpi, account=account, as_of=start - dt.timedelta(days=1), value=50.0)
            value(kpi=kpi, account=account, as_of=start + dt.timedelta(days=31), value=50.0 + gain + index % 5)
            value(kpi=guardrail, account=account, as_of=start, value=80.0)
            value(kpi=guardrail, account=account, as_of=start + dt.timedelta(days=29), value=80.0 - csat_drop
                  - index % 3)
    results = experiment_results(experiment=experiment, today=start + dt.timedelta(days=40))
    assert results.primary.estimate.effect == pytest.approx(8.0)
    assert results.primary.estimate.test == "welch_t"
    assert results.primary.interim.ci_low > 0
    (csat,) = results.guardrails
    assert csat.name == "Change in CSAT" and csat.harmed
    assert csat.interim.effect == pytest.approx(-20.0)
