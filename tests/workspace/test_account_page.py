"""An account's page worth living in: the header at a glance, notes on the timeline (audited), the timeline of
what happened, the people using it, KPIs by tier linking to the account's own history; in fixed queries."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import AccountNote
from audit.models import AuditEntry
from metrics.models import AlertRule, Breach, MetricValue
from metrics.services import kpi_create
from playbooks.models import Playbook, PlaybookStep
from playbooks.services import playbook_run_start, task_complete
from tests.accounts.factories import (
    AccountFactory,
    RevenueSnapshotFactory,
    SupportTicketFactory,
    SurveyResponseFactory,
    UsageDailyFactory,
    UsageEventFactory,
    UserDailyFactory,
)
from tests.conftest import login
from tests.users.factories import UserFactory
from users.models import Role


@pytest.fixture
def csm():
    return UserFactory(role=Role.CSM, full_name="Casey CSM")


@pytest.fixture
def account(csm):
    today = timezone.localdate()
    account = AccountFactory(name="Initech", owner=csm, renewal_date=today + dt.timedelta(days=40))
    for month, mrr in ((dt.date(2026, 6, 1), "1000"), (dt.date(2026, 7, 1), "1000"), (dt.date(2026, 8, 1), "1500")):
        RevenueSnapshotFactory(account=account, month=month, mrr=Decimal(mrr))
    return account


def test_a_note_is_saved_on_the_timeline_with_its_author_and_audited(client, csm, account):
    login(client, csm)

    response = client.post(f"/accounts/{account.pk}/", {"text": "Champion moving to a new role in Q1"}, follow=True)

    note = AccountNote.objects.get()
    assert (note.account, note.author, note.text) == (account, csm, "Champion moving to a new role in Q1")
    timeline = response.context["timeline"]
    assert (timeline[0].kind, timeline[0].detail, timeline[0].who) == ("note", note.text, "Casey CSM")
    entry = AuditEntry.objects.get(object_type="accounts.accountnote")
    assert (entry.action, entry.actor_user_id, entry.after["text"]) == ("created", csm.pk, note.text)


def test_an_empty_note_is_refused_beside_its_field(client, csm, account):
    login(client, csm)

    response = client.post(f"/accounts/{account.pk}/", {"text": "   "})

    assert response.status_code == 400
    content = response.content.decode()
    assert 'id="note-error"' in content and "the note is empty" in content
    assert not AccountNote.objects.exists()


def test_an_overlong_note_keeps_what_was_typed(client, csm, account):
    login(client, csm)
    typed = "Long call notes. " * 400

    response = client.post(f"/accounts/{account.pk}/", {"text": typed})

    assert response.status_code == 400
    assert "Long call notes." in response.content.decode().split('id="note-error"')[0]
    assert not AccountNote.objects.exists()


def test_a_viewer_does_not_write_notes(client, account):
    login(client, UserFactory(role=Role.VIEWER))

    assert client.post(f"/accounts/{account.pk}/", {"text": "Hello"}).status_code == 403
    assert not AccountNote.objects.exists()


def test_the_timeline_tells_tasks_with_outcomes_breaches_surveys_tickets_mrr_and_runs(client, csm, account):
    playbook = Playbook.objects.create(name="Adoption rescue")
    PlaybookStep.objects.create(playbook=playbook, position=1, title="Call the champion", due_days=2)
    run = playbook_run_start(playbook=playbook, account=account)
    task_complete(task=run.tasks.get(), user=csm, outcome="partial", note="Two teams trained")
    kpi = kpi_create(slug="nps", name="Net Promoter Score", calculator="surveys.nps", definition="d",
                     tier="advocacy", indicator="lagging", unit="score")
    rule = AlertRule.objects.create(kpi=kpi, name="Detractors", condition="below", threshold=0, severity="high")
    now = timezone.now()
    Breach.objects.create(rule=rule, kpi=kpi, scope="account", account=account, severity="high", opened_at=now,
                          opened_as_of=now.date(), value_at_open=-40, threshold=0, respond_by=now, status="resolved",
                          resolved_at=now, resolved_as_of=now.date(), value_at_resolve=10)
    SurveyResponseFactory(account=account, score=3, comment="Reports are slow")
    SupportTicketFactory(account=account, subject="SSO login loop")
    login(client, csm)

    titles = [moment.title for moment in client.get(f"/accounts/{account.pk}/").context["timeline"]]
    content = client.get(f"/accounts/{account.pk}/").content.decode()

    assert "Task done: Call the champion" in titles and "Task opened: Call the champion" in titles
    assert "Partly resolved: Two teams trained" in content
    assert "Breach opened: Net Promoter Score" in titles and "Breach resolved: Net Promoter Score" in titles
    assert "NPS (0-10) answer: 3" in titles and "Ticket: SSO login loop" in titles
    assert "MRR grew to 1,500" in titles and "Playbook completed: Adoption rescue" in titles
    only_notes = client.get(f"/accounts/{account.pk}/?timeline=ticket").context["timeline"]
    assert [moment.kind for moment in only_notes] == ["ticket"]


def test_the_header_says_arr_and_its_change_renewal_and_open_work(client, csm, account):
    login(client, csm)

    context = client.get(f"/accounts/{account.pk}/").context

    assert context["arr"]["now"] == Decimal("18000")
    assert context["arr"]["change"] == Decimal("6000")  # 1,000 -> 1,500 MRR over the last months
    assert context["renewal_days"] == 40
    assert (context["open_tasks"], context["open_breaches"]) == (0, 0)


def test_people_come_from_the_accounts_events(client, csm, account):
    today = timezone.localdate()
    for day in range(3):
        UserDailyFactory(account=account, user_id="u-ada", day=today - dt.timedelta(days=day), events=5)
    UserDailyFactory(account=account, user_id="u-bob", day=today - dt.timedelta(days=40))  # not active lately
    UsageEventFactory(account=account, user_id="u-ada", event_name="report_exported", occurred_at=timezone.now())
    UsageDailyFactory(account=account, day=today, event_name="report_exported", events=12, distinct_users=1)
    login(client, csm)

    context = client.get(f"/accounts/{account.pk}/").context

    [ada] = context["people"]
    assert (ada.user_id, ada.active_days, ada.events, ada.last_seen, ada.top_feature) == (
        "u-ada", 3, 15, today, "report_exported")
    assert context["features"] == [("report_exported", 12, 1)]
    assert sum(context["usage_events"]) == 12


def test_kpis_are_grouped_by_tier_without_rates_of_accounts_and_link_to_the_accounts_history(client, csm, account):
    today = timezone.localdate()
    nps = kpi_create(slug="nps", name="Net Promoter Score", calculator="surveys.nps", definition="d",
                     tier="advocacy", indicator="lagging", unit="score")
    churn = kpi_create(slug="logo-churn", name="Logo churn rate", calculator="revenue.logo_churn", definition="d",
                       tier="retention", indicator="lagging", unit="percent")
    for kpi, value in ((nps, 30.0), (churn, 0.0)):
        MetricValue.objects.create(kpi=kpi, kpi_version=1, scope="account", account=account, as_of=today, value=value)
    login(client, csm)

    response = client.get(f"/accounts/{account.pk}/")

    assert [(tier, [row["kpi"].slug for row in rows]) for tier, rows in response.context["kpi_tiers"]] == [
        ("Advocacy", ["nps"])]
    assert f'href="/accounts/{account.pk}/kpis/nps/"' in response.content.decode()
    own = client.get(f"/accounts/{account.pk}/kpis/nps/")
    assert own.status_code == 200 and [row.value for row in own.context["values"]] == [30.0]


def test_an_accounts_kpi_page_is_404_for_unknown_kpis(client, csm, account):
    login(client, csm)

    assert client.get(f"/accounts/{account.pk}/kpis/nope/").status_code == 404


def test_the_account_page_has_a_fixed_number_of_queries(client, csm, account, django_assert_num_queries):
    login(client, csm)
    client.get(f"/accounts/{account.pk}/")
    with CaptureQueriesContext(connection) as few:
        client.get(f"/accounts/{account.pk}/")
    playbook = Playbook.objects.create(name="Check-in", mode="parallel")
    for position, kind in enumerate(("call", "email", "meeting"), start=1):
        PlaybookStep.objects.create(playbook=playbook, position=position, title=f"Step {position}", kind=kind)
    playbook_run_start(playbook=playbook, account=account)
    for number in range(5):
        AccountNote.objects.create(account=account, author=csm, text=f"Note {number}")
        SurveyResponseFactory(account=account)
        SupportTicketFactory(account=account)

    with django_assert_num_queries(len(few.captured_queries)):
        assert client.get(f"/accounts/{account.pk}/").status_code == 200
