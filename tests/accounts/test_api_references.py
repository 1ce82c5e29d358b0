"""An account is named in the API's filters and subjects by its id or by the integration's own external id
(accounts/references.py): breaches, tasks and playbook runs by `?account=`, KPI values and explanations by
`?subject=`. Digits are an id; `external_id:` names an external id made of digits only."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.references import account_filter
from core.api.scopes import Scope
from core.errors import InvalidInput
from metrics.models import MetricValue
from playbooks.services import playbook_run_start
from tests.accounts.factories import AccountFactory
from tests.hardening.test_fuzz_api import DOCUMENT
from tests.integrations.factories import ApiKeyFactory, bearer
from tests.playbooks.factories import AlertRuleFactory, PlaybookFactory, PlaybookStepFactory, breach

DAY = dt.date(2026, 11, 20)
OPENED = dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC)


@pytest.fixture
def key():
    return ApiKeyFactory(scopes=[Scope.READ])


@pytest.fixture
def acme():
    """ACME-1 by its CRM id, and an account whose external id is digits that are also another account's id."""
    acme = AccountFactory(external_id="ACME-1", name="Acme")
    other = AccountFactory(name="Other")
    AccountFactory(external_id=str(other.pk), name="Digits")
    return acme


@pytest.fixture
def acme_everywhere(acme):
    """A breach, a playbook run with its task and a KPI value of ACME-1, and the same for another account."""
    rule = AlertRuleFactory()
    playbook = PlaybookFactory()
    PlaybookStepFactory(playbook=playbook, position=1)
    for account in (acme, AccountFactory(name="Elsewhere")):
        breach(rule=rule, account=account, opened=OPENED, value=1)
        playbook_run_start(playbook=playbook, account=account)
        MetricValue.objects.create(kpi=rule.kpi, kpi_version=1, scope="account", account=account, as_of=DAY,
                                   value=account.pk)
    MetricValue.objects.create(kpi=rule.kpi, kpi_version=1, scope="portfolio", as_of=DAY, value=0)
    return rule.kpi


@pytest.mark.parametrize("name", ["ACME-1", "external_id:ACME-1", "{pk}"])
def test_every_account_filter_and_subject_takes_an_id_or_an_external_id(client, key, acme, acme_everywhere, name):
    name = name.format(pk=acme.pk)
    slug = acme_everywhere.slug

    breaches = client.get(f"/api/v1/breaches/?account={name}", **bearer(key)).json()["results"]
    tasks = client.get(f"/api/v1/tasks/?account={name}", **bearer(key)).json()["results"]
    runs = client.get(f"/api/v1/playbook-runs/?account={name}", **bearer(key)).json()["results"]
    values = client.get(f"/api/v1/kpis/{slug}/values?scope=account&subject={name}", **bearer(key)).json()["results"]
    explained = client.get(f"/api/v1/kpis/{slug}/explain?as_of={DAY}&subject={name}", **bearer(key)).json()

    assert [row["account"] for row in breaches] == [acme.pk]
    assert [row["account"] for row in tasks] == [acme.pk]
    assert len(runs) == 1 and runs[0]["account"] == acme.pk
    assert [row["subject"] for row in values] == [str(acme.pk)]
    assert (explained["scope"], explained["value"]["value"]) == ("account", acme.pk)


def test_digits_are_an_id_and_the_prefix_names_an_external_id_of_digits(acme):
    other = AccountFactory(name="Unrelated")
    digits = AccountFactory(external_id=f"{other.pk}", name="Digits only")

    assert account_filter(str(other.pk), parameter="account") == {"account_id": other.pk}
    assert account_filter(f"external_id:{other.pk}", parameter="account") == {"account__external_id": str(other.pk)}
    assert list(type(acme).objects.filter(**account_filter(f"external_id:{other.pk}", parameter="a",
                                                          relation=""))) == [digits]
    assert account_filter("external_id:ACME:EU:1", parameter="account") == {"account__external_id": "ACME:EU:1"}


@pytest.mark.parametrize("value", ["99999999999999999999", "external_id:", "a\x00b"])
def test_a_value_that_cannot_name_an_account_is_a_400_naming_the_parameter(value):
    with pytest.raises(InvalidInput) as refusal:
        account_filter(value, parameter="subject")

    assert refusal.value.errors[0]["field"] == "subject"


def test_an_unknown_external_id_matches_nothing(client, key, acme_everywhere):
    response = client.get("/api/v1/breaches/?account=NOPE-9", **bearer(key))

    assert response.status_code == 200
    assert response.json()["results"] == []


def test_the_schema_says_how_to_name_an_account():
    parameters = {(path, parameter["name"]): parameter.get("description", "")
                  for path, methods in DOCUMENT["paths"].items() for operation in methods.values()
                  for parameter in operation.get("parameters", [])}

    for where in [("/api/v1/breaches/", "account"), ("/api/v1/tasks/", "account"),
                  ("/api/v1/playbook-runs/", "account"), ("/api/v1/kpis/{slug}/values", "subject"),
                  ("/api/v1/kpis/{slug}/explain", "subject")]:
        assert "external id" in parameters[where] and "external_id:" in parameters[where], where
