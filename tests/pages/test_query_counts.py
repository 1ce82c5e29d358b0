"""Every page issues a fixed number of queries whatever the number of rows behind it.

Each page is opened on a tenant with a few of everything it lists, then again after ten times as many rows
were added (accounts with their own owners, KPIs with values, versions and targets, breaches, tasks, keys,
batches...). The second count must equal the first, which an N+1 query cannot, and stay within the pinned
maximum, so a page that gains a query shows up here as a choice someone made, not a slow page later.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import count

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import resolve
from django.utils import timezone

from accounts.models import Account, RevenueSnapshot, SupportTicket, SurveyResponse
from integrations.models import ApiKey, IngestBatch
from metrics.models import KPI, AlertRule, Breach, KPITarget, KPIVersion, MetricValue
from playbooks.models import Playbook, PlaybookRun, PlaybookStep, Task
from tenants.models import Tenant
from tests.conftest import TenantClient, login
from tests.pages.routes import page_names
from tests.users.factories import UserFactory
from users.models import Role, User

FEW, MANY = 3, 30
# Issue 7 asks for 200 ms of server time on the demo tenant. On a CI machine shared by other jobs a timing is
# noisy, so this is a loose bound: a page doing per-row work on MANY rows breaks it, a busy machine does not.
SLOW_PAGE_SECONDS = 1.0
SEVERITIES = ("critical", "high", "medium", "low")
_serial = count()


@dataclass
class Portfolio:
    """The rows the pages read, grown `n` at a time; `csm` owns work and accounts, `account` and `kpi` are
    the subjects of the account page and the KPI page."""

    csm: User
    account: Account
    kpi: KPI
    today: dt.date = field(default_factory=timezone.localdate)
    subjects: dict = field(default_factory=dict)  # one of each other page's object: a task, a review...

    def grow(self, n: int) -> None:
        """Add n of everything, each row tied to its own users, accounts, KPIs and playbooks."""
        now = timezone.now()
        quarter = f"{self.today.year}-Q{(self.today.month - 1) // 3 + 1}"
        serials = [next(_serial) for _ in range(n)]
        people = User.objects.bulk_create(
            [User(email=f"person{i}@example.com", full_name=f"Person {i}", role=Role.CSM, password="!")
             for i in serials])
        accounts = Account.objects.bulk_create(
            [Account(external_id=f"QC-{i}", name=f"Account {i}", plan=("Starter", "Growth")[i % 2],
                     region=("NA", "EMEA")[i % 2], owner=person, renewal_date=self.today + dt.timedelta(days=30))
             for i, person in zip(serials, people, strict=True)]
            + [Account(external_id=f"QC-mine-{i}", name=f"Mine {i}", owner=self.csm) for i in serials]
            + [Account(external_id=f"QC-orphan-{i}", name=f"Orphan {i}", owner=None) for i in serials])
        theirs = accounts[:n]
        RevenueSnapshot.objects.bulk_create(
            # Two months a year apart: every account has a revenue gap for data health to list.
            [RevenueSnapshot(account=account, month=dt.date(2025, 1, 1), mrr=Decimal(100)) for account in theirs]
            + [RevenueSnapshot(account=account, month=dt.date(2026, 1, 1), mrr=Decimal(120)) for account in theirs]
            + [RevenueSnapshot(account=self.account, month=dt.date(2000 + i % 100, 1 + i // 100 % 12, 1),
                               mrr=Decimal(i)) for i in serials])
        SurveyResponse.objects.bulk_create(
            [SurveyResponse(external_id=f"qc-s-{i}", account=self.account, kind="nps", score=i % 11,
                            comment=f"Comment {i}", responded_at=now - dt.timedelta(hours=i)) for i in serials])
        SupportTicket.objects.bulk_create(
            [SupportTicket(external_id=f"qc-t-{i}", account=self.account, subject=f"Ticket {i}",
                           opened_at=now - dt.timedelta(hours=i)) for i in serials])

        kpis = KPI.objects.bulk_create(
            [KPI(slug=f"qc-kpi-{i}", name=f"KPI {i}", definition="d", tier="advocacy", indicator="lagging",
                 calculator="surveys.nps", params={"window_days": 30}, unit="score", owner=person,
                 is_core=i % 2 == 0) for i, person in zip(serials, people, strict=True)])
        KPIVersion.objects.bulk_create(
            [KPIVersion(kpi=kpi, version=1, calculator=kpi.calculator, params=kpi.params, changed_by=person)
             for kpi, person in zip(kpis, people, strict=True)]
            + [KPIVersion(kpi=self.kpi, version=2 + i, calculator=self.kpi.calculator, params=self.kpi.params,
                          changed_by=person, reason=f"Change {i}") for i, person in zip(serials, people, strict=True)])
        KPITarget.objects.bulk_create(
            [KPITarget(kpi=kpi, period=quarter, value=50, set_by=person) for kpi, person in zip(kpis, people,
                                                                                             strict=True)]
            + [KPITarget(kpi=self.kpi, period=quarter, dimension="plan", segment=f"Plan {i}", value=i,
                         set_by=person) for i, person in zip(serials, people, strict=True)])
        values = []
        for kpi in kpis:
            for weeks_back in range(2):
                as_of = self.today - dt.timedelta(weeks=weeks_back)
                values.append(MetricValue(kpi=kpi, kpi_version=1, scope="portfolio", as_of=as_of, value=50))
                values.append(MetricValue(kpi=kpi, kpi_version=1, scope="account", account=self.account,
                                          as_of=as_of, value=40 + weeks_back))
        values += [MetricValue(kpi=self.kpi, kpi_version=1, scope="portfolio", value=i % 100,
                               as_of=self.today - dt.timedelta(days=14 + i)) for i in serials]
        values += [MetricValue(kpi=self.kpi, kpi_version=1, scope="account", account=account, as_of=self.today,
                               value=i % 100, numerator=i, denominator=1)
                   for i, account in zip(serials, theirs, strict=True)]
        values += [MetricValue(kpi=self.kpi, kpi_version=1, scope="segment", dimension="plan",
                               segment=f"Plan {i}", as_of=self.today, value=i % 100) for i in serials]
        MetricValue.objects.bulk_create(values)

        rules = AlertRule.objects.bulk_create(
            [AlertRule(kpi=kpi, name=f"Rule {i}", condition="below", threshold=60,
                       severity=SEVERITIES[i % len(SEVERITIES)])
             for i, kpi in zip(serials, kpis, strict=True)])
        Breach.objects.bulk_create(
            [Breach(rule=rule, kpi=rule.kpi, scope="account", account=account, severity=rule.severity,
                    opened_at=now, opened_as_of=self.today, value_at_open=40, threshold=60,
                    respond_by=now + dt.timedelta(days=1)) for rule, account in zip(rules, theirs, strict=True)])

        playbooks = Playbook.objects.bulk_create([Playbook(name=f"Playbook {i}") for i in serials])
        steps = PlaybookStep.objects.bulk_create(
            [PlaybookStep(playbook=playbook, position=1, title=f"Step of {playbook.name}") for playbook in playbooks])
        mine = accounts[n:2 * n]
        runs = PlaybookRun.objects.bulk_create(
            [PlaybookRun(playbook=playbook, account=account, trigger="manual")
             for playbook, account in zip(playbooks, mine, strict=True)]
            + [PlaybookRun(playbook=playbook, account=self.account, trigger="manual") for playbook in playbooks])
        # Overdue, today and upcoming work for the CSM; work of everyone else on the account page's account.
        due = [now - dt.timedelta(days=1), now + dt.timedelta(minutes=1), now + dt.timedelta(days=5)]
        Task.objects.bulk_create(
            [Task(run=run, step=step, account=run.account, title=step.title, kind="call", assignee=self.csm,
                  due_at=due[k % 3], respond_by=due[k % 3])
             for k, (run, step) in enumerate(zip(runs[:n], steps, strict=True))]
            + [Task(run=run, step=step, account=self.account, title=step.title, kind="call", assignee=person,
                    due_at=now, respond_by=now) for run, step, person in zip(runs[n:], steps, people, strict=True)])

        keys = ApiKey.objects.bulk_create(
            [ApiKey(name=f"Key {i}", prefix=f"qc{i}", hashed_secret=f"{i:064d}", scopes=["ingest"],
                    created_by=person, last_used_at=now) for i, person in zip(serials, people, strict=True)])
        IngestBatch.objects.bulk_create(
            [IngestBatch(kind="events", api_key=key, accepted=accepted, items=5, error_count=0 if accepted else 4,
                         errors=[] if accepted else [{"index": 1, "field": "account", "message": "unknown"}] * 4)
             for key in keys for accepted in (True, False)])

        from connectors.models import ConnectorCall, HeldCall
        from notifications.models import Webhook, WebhookDelivery

        ConnectorCall.objects.bulk_create(
            [ConnectorCall(connector=connector, status_code=status, summary=f"Call {i}", api_key=key)
             for i, key in zip(serials, keys, strict=True) for connector in ("segment", "stripe", "hubspot")
             for status in (200, 400)])
        HeldCall.objects.bulk_create(
            [HeldCall(connector=connector, message_id=f"qc-held-{i}", kind="track", account_key=f"LATER-{i}",
                      message={}, reason="unknown account") for i in serials for connector in ("segment", "stripe")])
        slack = Webhook.objects.bulk_create(
            [Webhook(name=f"Slack {i}", url=f"https://hooks.slack.com/services/T{i}", secret="s", format="slack",
                     events=["breach.opened"]) for i in serials])
        WebhookDelivery.objects.bulk_create(
            [WebhookDelivery(webhook=hook, event="ping", payload={}, status=status, attempts=1, next_attempt_at=now,
                             response_status=200 if status == "delivered" else 500,
                             delivered_at=now if status == "delivered" else None)
             for hook in slack for status in ("delivered", "failed")])


@pytest.fixture
def portfolio() -> Portfolio:
    csm = UserFactory(role=Role.CSM)
    account = Account.objects.create(external_id="QC-subject", name="Subject account", owner=csm)
    kpi = KPI.objects.create(slug="qc-subject", name="Subject KPI", definition="d", tier="advocacy",
                             indicator="lagging", calculator="surveys.nps", params={"window_days": 30}, unit="score",
                             is_core=True)
    KPIVersion.objects.create(kpi=kpi, version=1, calculator=kpi.calculator, params=kpi.params)
    today = timezone.localdate()
    MetricValue.objects.bulk_create(
        [MetricValue(kpi=kpi, kpi_version=1, scope="portfolio", as_of=today - dt.timedelta(weeks=weeks_back),
                     value=50 + weeks_back) for weeks_back in range(2)]
        + [MetricValue(kpi=kpi, kpi_version=1, scope="account", account=account,
                       as_of=today - dt.timedelta(weeks=weeks_back), value=40) for weeks_back in range(2)])
    return Portfolio(csm=csm, account=account, kpi=kpi, today=today, subjects=_subjects(csm, account, kpi, today))


def _subjects(csm: User, account: Account, kpi: KPI, today: dt.date) -> dict:
    """The object of each page about one thing: a task of the CSM, its playbook, an alert rule, a review, an
    experiment (a draft, so its form opens), a scenario, a webhook and a CSV import; and a health score."""
    from integrations.models import CsvImport
    from notifications.models import Webhook
    from playbooks.services import playbook_run_start
    from reviews.scenario_services import scenario_save
    from reviews.services import review_create
    from tests.playbooks.experiment_fixtures import churn_experiment

    leader = UserFactory(role=Role.LEADER)
    KPI.objects.create(slug="health-score", name="Health score", definition="d", tier="advocacy",
                       indicator="leading", calculator="health.score", unit="score",
                       params={"components": [{"kpi": kpi.slug, "weight": 1}]})  # its settings page needs one
    playbook = Playbook.objects.create(name="Subject playbook")
    PlaybookStep.objects.create(playbook=playbook, position=1, title="Call the subject", due_days=2)
    run = playbook_run_start(playbook=playbook, account=account)
    drivers = {"grr": 90, "expansion": 10, "logo_churn": 5, "activation_rate": 80, "new_arr": 1000,
               "cost_to_serve": 100}
    return {
        "task": run.tasks.get(), "playbook": playbook, "csm": csm,
        "rule": AlertRule.objects.create(kpi=kpi, name="Subject rule", condition="below", threshold=10),
        "review": review_create(quarter=f"{today.year}-Q{(today.month - 1) // 3 + 1}", created_by=leader),
        "experiment": churn_experiment(playbook=playbook, user=leader),
        "scenario": scenario_save(name="Subject scenario", values=drivers, user=leader),
        "webhook": Webhook.objects.create(name="Subject hook", url="https://hooks.example.com/in", secret="s",
                                          events=["breach.opened"]),
        "csv_import": CsvImport.objects.create(kind="accounts", status=CsvImport.Status.FAILED, file_bytes=10,
                                               rows=2, errors=[{"row": 2, "field": "mrr", "message": "Bad."}]),
    }


@dataclass(frozen=True)
class PageCase:
    path: Callable[[Portfolio], str]
    role: str | None  # None: opened signed out; "csm" is the portfolio's CSM
    max_queries: int
    status: int = 200


# The most queries each page may issue, FEW rows or MANY. Raising a number is a decision: say why in review.
PAGES: dict[str, PageCase] = {
    "home": PageCase(lambda p: "/", Role.CSM, 5, status=302),  # a redirect by role
    "login": PageCase(lambda p: "/login/", None, 2),
    "password change": PageCase(lambda p: "/password/", Role.CSM, 5),
    "accounts": PageCase(lambda p: "/accounts/", Role.LEADER, 7),
    # The account page grew a timeline, notes, people and usage (issue 16): one query per source.
    "account page": PageCase(lambda p: f"/accounts/{p.account.pk}/", Role.LEADER, 20),
    "account kpi": PageCase(lambda p: f"/accounts/{p.account.pk}/kpis/{p.kpi.slug}/", Role.LEADER, 8),
    "team": PageCase(lambda p: "/team/", Role.MANAGER, 9),
    "alert rules": PageCase(lambda p: "/settings/alert-rules/", Role.ADMIN, 6),
    "kpi settings": PageCase(lambda p: "/settings/kpis/", Role.ADMIN, 7),
    "a kpi's settings": PageCase(lambda p: f"/settings/kpis/{p.kpi.slug}/", Role.ADMIN, 8),
    # 14th and 15th: the connectors' held calls, counted, then grouped by the account they wait for.
    "data health": PageCase(lambda p: "/data-health/", Role.ADMIN, 15),
    "csv import": PageCase(lambda p: "/data/import/", Role.ADMIN, 6),  # 6th: the five latest import jobs
    "api keys": PageCase(lambda p: "/settings/api-keys/", Role.ADMIN, 6),
    # 15th: the health distribution, since the tenant has a health score (the health settings page needs one).
    "dashboard": PageCase(lambda p: "/dashboard/", Role.LEADER, 15),
    "kpi page": PageCase(lambda p: f"/kpis/{p.kpi.slug}/", Role.LEADER, 14),
    "glossary": PageCase(lambda p: "/glossary/", Role.LEADER, 7),  # + the owners, named (issue 16)
    "predictions": PageCase(lambda p: "/predictions/", Role.LEADER, 7),
    "renewal forecast": PageCase(lambda p: "/predictions/forecast/", Role.LEADER, 6),
    "alerts": PageCase(lambda p: "/alerts/", Role.LEADER, 7),
    "my work": PageCase(lambda p: "/work/", Role.CSM, 7),
    # Pinned for issue 16 (every page): the pages about one object, the lists, the settings and the forms.
    "task page": PageCase(lambda p: f"/tasks/{p.subjects['task'].pk}/", Role.CSM, 8),
    "feedback": PageCase(lambda p: "/feedback/", Role.CSM, 9),
    "experiments": PageCase(lambda p: "/experiments/", Role.LEADER, 6),
    "an experiment": PageCase(lambda p: f"/experiments/{p.subjects['experiment'].pk}/", Role.LEADER, 9),
    "new experiment": PageCase(lambda p: "/experiments/new/", Role.ADMIN, 8),
    "experiment edit": PageCase(lambda p: f"/experiments/{p.subjects['experiment'].pk}/edit/", Role.ADMIN, 10),
    "scenarios": PageCase(lambda p: "/scenarios/", Role.LEADER, 10),
    "a scenario": PageCase(lambda p: f"/scenarios/{p.subjects['scenario'].pk}/", Role.LEADER, 7),
    "feedback themes": PageCase(lambda p: "/feedback/themes/", Role.LEADER, 7),
    "backlog": PageCase(lambda p: "/backlog/", Role.LEADER, 8),
    "playbooks": PageCase(lambda p: "/playbooks/", Role.LEADER, 9),
    "a playbook": PageCase(lambda p: f"/playbooks/{p.subjects['playbook'].pk}/", Role.LEADER, 10),
    "new playbook": PageCase(lambda p: "/playbooks/new/", Role.ADMIN, 7),
    "playbook edit": PageCase(lambda p: f"/playbooks/{p.subjects['playbook'].pk}/edit/", Role.ADMIN, 9),
    "reviews": PageCase(lambda p: "/reviews/", Role.LEADER, 7),
    "a review": PageCase(lambda p: f"/reviews/{p.subjects['review'].pk}/", Role.LEADER, 19),
    "a review printed": PageCase(lambda p: f"/reviews/{p.subjects['review'].pk}/print/", Role.LEADER, 9),
    "settings": PageCase(lambda p: "/settings/", Role.ADMIN, 5),
    "users": PageCase(lambda p: "/settings/users/", Role.ADMIN, 7),
    "a user": PageCase(lambda p: f"/settings/users/{p.subjects['csm'].pk}/", Role.ADMIN, 7),
    "sla settings": PageCase(lambda p: "/settings/sla/", Role.ADMIN, 6),
    "health settings": PageCase(lambda p: "/settings/health/", Role.ADMIN, 7),  # 7th: the KPIs' names
    "new alert rule": PageCase(lambda p: "/settings/alert-rules/new/", Role.ADMIN, 6),
    "an alert rule": PageCase(lambda p: f"/settings/alert-rules/{p.subjects['rule'].pk}/", Role.ADMIN, 7),
    "webhooks": PageCase(lambda p: "/settings/webhooks/", Role.ADMIN, 6),
    "a webhook": PageCase(lambda p: f"/settings/webhooks/{p.subjects['webhook'].pk}/", Role.ADMIN, 7),
    "audit log": PageCase(lambda p: "/settings/audit-log/", Role.ADMIN, 7),
    "a csv import": PageCase(lambda p: f"/data/import/{p.subjects['csv_import'].pk}/", Role.ADMIN, 6),
    "connectors": PageCase(lambda p: "/settings/connectors/", Role.ADMIN, 7),
    "a connector": PageCase(lambda p: "/settings/connectors/segment/", Role.ADMIN, 12),
    "the stripe connector": PageCase(lambda p: "/settings/connectors/stripe/", Role.ADMIN, 12),
    "the hubspot connector": PageCase(lambda p: "/settings/connectors/hubspot/", Role.ADMIN, 12),
    "the slack connector": PageCase(lambda p: "/settings/connectors/slack/", Role.ADMIN, 12),
}


def _visitor(case: PageCase, portfolio: Portfolio, tenant: Tenant) -> TenantClient:
    client = TenantClient(tenant)
    if case.role == Role.CSM:
        return login(client, portfolio.csm)
    if case.role is not None:
        return login(client, UserFactory(role=case.role))
    return client


def _queries(client: TenantClient, path: str, status: int) -> CaptureQueriesContext:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == status, (path, response.status_code, response.get("Location"))
    return captured


@pytest.mark.parametrize("name", PAGES)
def test_page_queries_do_not_grow_with_rows(name, portfolio, tenant, django_assert_max_num_queries):
    case = PAGES[name]
    client = _visitor(case, portfolio, tenant)
    path = case.path(portfolio)
    portfolio.grow(FEW)
    few = _queries(client, path, case.status)

    portfolio.grow(MANY - FEW)
    with django_assert_max_num_queries(case.max_queries) as many:
        started = time.perf_counter()
        response = client.get(path)
        seconds = time.perf_counter() - started

    assert response.status_code == case.status
    assert seconds < SLOW_PAGE_SECONDS, f"{name} took {seconds * 1000:.0f} ms with {MANY} rows of each kind"
    assert len(many) == len(few), (
        f"{name}: {len(few)} queries with {FEW} rows of each kind, {len(many)} with {MANY}; new ones:\n"
        + "\n".join(query["sql"] for query in many.captured_queries[len(few):]))


def test_every_page_has_a_pinned_query_count(portfolio):
    pinned = {resolve(case.path(portfolio)).url_name for case in PAGES.values()}

    assert page_names() - pinned == set(), "pin the new page's queries in PAGES"


def test_the_grown_tenant_shows_the_rows_it_grew(portfolio, tenant):
    """The counts above mean something only if the pages really show MANY rows: spot-check three of them."""
    portfolio.grow(MANY)
    leader = login(TenantClient(tenant), UserFactory(role=Role.LEADER))
    csm = login(TenantClient(tenant), portfolio.csm)

    accounts_page = leader.get("/accounts/").content.decode()
    assert all(name in accounts_page for name in Account.objects.values_list("name", flat=True))
    assert leader.get("/alerts/").content.decode().count(">Acknowledge</button>") == MANY
    assert csm.get("/work/").content.decode().count('<tbody id="task-') == MANY + 1  # + the task page's task
