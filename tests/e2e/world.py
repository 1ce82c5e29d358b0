"""A small tenant with something on every page, for the browser tests that visit many pages (the accessibility
tour, the forms): a CSM's account with KPI values, a breach and its task, a review, a webhook, a running
experiment, a saved scenario and a failed CSV import."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from integrations.models import CsvImport
from metrics.models import AlertRule, Breach, MetricValue
from metrics.services import kpi_create
from playbooks.experiments.services import experiment_start
from playbooks.models import Playbook, PlaybookStep
from playbooks.services import playbook_run_start
from reviews.scenario_services import scenario_save
from tests.accounts.factories import (
    AccountFactory,
    RevenueSnapshotFactory,
    SupportTicketFactory,
    SurveyResponseFactory,
    UserDailyFactory,
)
from tests.playbooks.experiment_fixtures import churn_experiment
from tests.users.factories import UserFactory
from users.models import Role


def small_tenant() -> dict:
    """A small tenant with something on every page: a CSM's account with KPI values, a breach and its task, a
    review, a webhook."""
    from notifications.models import Webhook
    from reviews.services import review_create

    manager = UserFactory(role=Role.MANAGER, full_name="Morgan Manager")
    csm = UserFactory(role=Role.CSM, full_name="Casey CSM", manager=manager)
    leader = UserFactory(role=Role.LEADER, full_name="Lee Leader")
    admin = UserFactory(role=Role.ADMIN, full_name="Ada Admin")
    account = AccountFactory(owner=csm, name="Initech")
    today = timezone.localdate()
    for month, mrr in ((dt.date(2026, 8, 1), "900"), (dt.date(2026, 9, 1), "1200")):
        RevenueSnapshotFactory(account=account, month=month, mrr=Decimal(mrr))
    SurveyResponseFactory(account=account, score=4, comment="Slow reports")
    SupportTicketFactory(account=account)
    UserDailyFactory(account=account, user_id="ada@initech.example", day=today)
    kpi = kpi_create(slug="nps", name="Net Promoter Score", calculator="surveys.nps", definition="d",
                     tier="advocacy", indicator="lagging", unit="score", poor_value=0, good_value=50, is_core=True)
    for back, value in ((21, 40.0), (14, 20.0), (7, None), (0, -10.0)):
        day = today - dt.timedelta(days=back)
        MetricValue.objects.create(kpi=kpi, kpi_version=1, scope="account", account=account, as_of=day, value=value)
        MetricValue.objects.create(kpi=kpi, kpi_version=1, scope="portfolio", as_of=day, value=value)
    kpi_create(slug="health-score", name="Health score", calculator="health.score", definition="d", tier="advocacy",
               indicator="leading", unit="score", params={"components": [{"kpi": "nps", "weight": 1}]})
    rule = AlertRule.objects.create(kpi=kpi, name="Detractors", condition="below", threshold=0, severity="high")
    now = timezone.now()
    breach = Breach.objects.create(rule=rule, kpi=kpi, scope="account", account=account, severity="high",
                                   opened_at=now, opened_as_of=today, value_at_open=-10, threshold=0,
                                   respond_by=now + dt.timedelta(hours=72))
    playbook = Playbook.objects.create(name="Detractor call", trigger="alert", alert_rule=rule)
    PlaybookStep.objects.create(playbook=playbook, position=1, title="Call the detractor", due_days=2)
    task = playbook_run_start(playbook=playbook, account=account, breach=breach, trigger="alert").tasks.get()
    review = review_create(quarter=f"{today.year}-Q{(today.month - 1) // 3 + 1}", created_by=leader)
    webhook = Webhook.objects.create(name="CRM", url="https://hooks.example.com/in", secret="s",
                                     events=["breach.opened"])
    experiment = churn_experiment(playbook=playbook, user=leader)
    experiment_start(experiment=experiment, user=leader)
    playbook_run_start(playbook=playbook, account=AccountFactory(owner=csm, name="Hooli"))
    drivers = {"grr": 90, "expansion": 10, "logo_churn": 5, "activation_rate": 80, "new_arr": 120_000,
               "cost_to_serve": 1_000}
    scenario = scenario_save(name="Churn down to 5%", values=drivers, user=leader, review=review)
    csv_import = CsvImport.objects.create(
        kind="accounts", status=CsvImport.Status.FAILED, file_name="accounts.csv", file_bytes=2048, rows=40,
        user=admin, finished_at=now, detail="2 rows had problems: nothing was stored.", error_count=2,
        errors=[{"row": 3, "field": "mrr", "message": "Not a number: 'ten'."},
                {"row": 9, "field": "external_id", "message": "This field is required."}])
    return {"csm": csm, "manager": manager, "leader": leader, "admin": admin, "account": account, "kpi": kpi,
            "rule": rule, "playbook": playbook, "task": task, "review": review, "webhook": webhook,
            "experiment": experiment, "scenario": scenario, "csv_import": csv_import}
