"""Bad input is a 4xx naming what is wrong, never a 500: the cases fuzzing and the security review found
(issues #13 and #20), each as its class.

- JSON is the API's body format; a form or multipart body is a 415 (only file uploads take multipart).
- Numbers are bounded by what their column and the model's check constraints hold.
- What the database still refuses becomes a 400 naming the field (integrations/api/database_errors.py).
- Whole numbers in query parameters are ASCII digits in range; NUL characters are refused in queries and bodies.
- JSON that cannot be parsed, however deep its nesting, is a 400.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from pathlib import Path

import pytest
from django.db import DataError, IntegrityError, transaction
from django.test import override_settings
from django.test.client import encode_multipart

from accounts.models import Account
from core.api.errors import api_exception_handler
from core.api.scopes import Scope
from integrations.services import IssuedKey
from metrics.api.serializers import AlertRuleIO
from metrics.models import KPI, AlertRule
from metrics.services import kpi_create
from reviews.models import Decision
from tests.accounts.factories import AccountFactory, RevenueSnapshotFactory
from tests.hardening.test_fuzz_api import DOCUMENT
from tests.integrations.factories import ApiKeyFactory, bearer
from tests.reviews.factories import a_review
from tests.users.factories import UserFactory
from users.models import Role
from workspace.cockpit import CockpitFilters

BOUNDARY = "fuzzboundary"


@pytest.fixture
def key() -> IssuedKey:
    return ApiKeyFactory(scopes=[Scope.INGEST, Scope.READ, Scope.ADMIN])


@pytest.fixture
def nps() -> KPI:
    return kpi_create(slug="nps", name="NPS", calculator="surveys.nps", definition="d", tier="advocacy",
                      indicator="lagging", unit="score")


@pytest.fixture
def rule(nps) -> AlertRule:
    return AlertRule.objects.create(kpi=nps, name="Detractors", condition="below", threshold=0)


def _json(client, method: str, path: str, body, key):
    return getattr(client, method)(path, body, content_type="application/json", **bearer(key))


def _multipart(client, method: str, path: str, fields: dict, key):
    return getattr(client, method)(path, encode_multipart(BOUNDARY, fields),
                                   content_type=f"multipart/form-data; boundary={BOUNDARY}", **bearer(key))


def _errors(response) -> dict[str | None, str]:
    return {error["field"]: error["message"] for error in response.json()["errors"]}


# --- body formats ---------------------------------------------------------------------------------------


def test_a_form_or_multipart_body_is_a_415_and_changes_nothing(client, key, rule, nps):
    leader = UserFactory(role=Role.LEADER, email="lead@alpha.example")
    review = a_review(leader)
    decision = {"review": str(review.pk), "kind": "initiative", "text": "Call", "owner": leader.email,
                "deadline": "2027-01-31"}
    kpi = {"slug": "csat", "name": "CSAT", "definition": "d", "tier": "advocacy", "indicator": "lagging",
           "calculator": "surveys.csat", "unit": "score", "params": "x"}

    answers = [
        _multipart(client, "patch", f"/api/v1/alert-rules/{rule.pk}/", {"persistence": "0"}, key),
        _multipart(client, "patch", "/api/v1/kpis/nps/", {"params": "null"}, key),
        client.post("/api/v1/decisions/", decision, **bearer(key)),  # the test client's default: multipart
        client.post("/api/v1/kpis/", kpi, content_type="application/x-www-form-urlencoded", **bearer(key)),
    ]

    assert [answer.status_code for answer in answers] == [415, 415, 415, 415]
    assert all("Unsupported media type" in answer.json()["detail"] for answer in answers)
    rule.refresh_from_db()
    nps.refresh_from_db()
    assert (rule.persistence, nps.params) == (1, {})
    assert not Decision.objects.exists() and not KPI.objects.filter(slug="csat").exists()


def test_the_schema_offers_multipart_only_where_a_file_is_uploaded():
    with_forms = sorted(f"{method.upper()} {path}" for path, methods in DOCUMENT["paths"].items()
                        for method, operation in methods.items()
                        if set(operation.get("requestBody", {}).get("content", {})) - {"application/json",
                                                                                      "application/x-ndjson"})
    assert with_forms == ["POST /api/v1/accounts/import", "POST /api/v1/revenue/import"]


# --- numbers bounded by their columns and constraints ----------------------------------------------------


@pytest.mark.parametrize(("field", "value"), [
    ("persistence", 0), ("persistence", 32768), ("cooldown_hours", 2**31), ("cooldown_hours", 10**30),
    ("cooldown_hours", 2**31 - 1),  # the column holds it; the breach's date arithmetic would not
    ("hysteresis", -1), ("lookback_days", 10**6),
])
def test_a_rule_number_its_column_or_constraint_cannot_hold_is_a_400_naming_it(client, key, rule, field,
                                                                               value):
    response = _json(client, "patch", f"/api/v1/alert-rules/{rule.pk}/", {field: value}, key)

    assert response.status_code == 400
    assert field in _errors(response)
    rule.refresh_from_db()
    assert (rule.persistence, rule.cooldown_hours, rule.hysteresis, rule.lookback_days) == (1, 0, 0, 30)


def test_the_schema_says_the_bounds_the_api_enforces():
    rule = DOCUMENT["components"]["schemas"]["PatchedAlertRuleIORequest"]["properties"]

    assert (rule["persistence"]["minimum"], rule["persistence"]["maximum"]) == (1, 32767)
    assert rule["hysteresis"]["minimum"] == 0
    assert rule["cooldown_hours"]["maximum"] == 87600


@pytest.mark.parametrize("params", [None, "x", 5, ["window_days"]])
def test_kpi_parameters_that_are_not_an_object_are_a_400(client, key, nps, params):
    created = _json(client, "post", "/api/v1/kpis/", {
        "slug": "csat", "name": "CSAT", "definition": "d", "tier": "advocacy", "indicator": "lagging",
        "calculator": "surveys.csat", "unit": "score", "params": params}, key)
    changed = _json(client, "patch", "/api/v1/kpis/nps/", {"params": params}, key)

    assert (created.status_code, changed.status_code) == (400, 400)
    assert "params" in _errors(created) and "params" in _errors(changed)
    assert not KPI.objects.filter(slug="csat").exists()


# --- the database's refusal, when validation misses it ---------------------------------------------------


def _refusal(statement) -> DataError | IntegrityError:
    try:
        with transaction.atomic():
            statement()
    except (DataError, IntegrityError) as error:
        return error
    raise AssertionError("PostgreSQL accepted it")


@pytest.mark.parametrize(("statement", "field", "message"), [
    (lambda rule: AlertRule.objects.filter(pk=rule.pk).update(persistence=0), "persistence",
     "is not allowed here (rule alert_rule_persistence_positive)"),
    (lambda rule: AlertRule.objects.filter(pk=rule.pk).update(name=None), "name", "is required"),
    (lambda rule: AlertRule.objects.filter(pk=rule.pk).update(condition="x" * 13), None,
     "is longer than the field holds"),
    (lambda rule: AlertRule.objects.filter(pk=rule.pk).update(persistence=2**20), None,
     "is out of the range the field holds"),
    (lambda rule: AlertRule.objects.filter(pk=rule.pk).update(dimension="plan", segment=""), "dimension",
     "is not allowed here (rule alert_rule_segment_complete)"),
    (lambda rule: Account.objects.create(external_id=AccountFactory().external_id, name="Twin"), "external_id",
     "already exists"),
])
def test_one_handler_turns_what_the_database_refuses_into_a_400_naming_the_field(rule, statement, field, message,
                                                                                caplog):
    refusal = _refusal(lambda: statement(rule))

    with caplog.at_level(logging.WARNING, logger="core.api.database_errors"):
        response = api_exception_handler(refusal, {})

    assert response.status_code == 400
    assert {"index": None, "field": field, "message": message} in response.data["errors"]
    assert "nothing was stored" in response.data["detail"]
    assert "refused" in caplog.text  # a rule validation missed: logged for developers


def test_a_refusal_that_slips_past_validation_reaches_the_client_as_a_400(client, key, rule, monkeypatch):
    monkeypatch.setattr(AlertRuleIO, "validate", lambda self, attrs: attrs)  # as if a rule were forgotten

    with transaction.atomic():
        response = _json(client, "patch", f"/api/v1/alert-rules/{rule.pk}/", {"dimension": "plan"}, key)

    assert response.status_code == 400
    assert _errors(response) == {"dimension": "is not allowed here (rule alert_rule_segment_complete)",
                                 "segment": "is not allowed here (rule alert_rule_segment_complete)"}
    rule.refresh_from_db()
    assert rule.dimension == ""


# --- query parameters ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "parameter"), [
    ("/api/v1/breaches/?account=%C2%B2", None),
    ("/api/v1/breaches/?account=99999999999999999999", "account"),
    ("/api/v1/tasks/?account=%C2%B2", None),
    ("/api/v1/tasks/?playbook=%C2%B2", "playbook"),
    ("/api/v1/playbook-runs/?account=99999999999999999999", "account"),
    ("/api/v1/decisions/?review=%C2%B2", "review"),
    ("/api/v1/decisions/?review=99999999999999999999", "review"),
    ("/api/v1/decisions/?review=-1", "review"),
    ("/api/v1/kpis/nps/values?scope=account&subject=99999999999999999999", "subject"),
    ("/api/v1/kpis/nps/explain?as_of=2026-11-20&subject=99999999999999999999", "subject"),
    ("/api/v1/cohorts/?months=%D9%A3", "months"),
    ("/api/v1/audit-log/?object_type=%00", "object_type"),
    ("/api/v1/webhooks/1/deliveries/?event=a%00b", "event"),
])
def test_a_query_parameter_no_row_can_match_is_a_400_naming_it_or_matches_nothing(client, key, nps, path,
                                                                                  parameter):
    """`str.isdigit()` took `²` for a digit and int() then failed: a 500. `²` is no id, but it can be an
    external id (`account=`), which matches nothing."""
    response = client.get(path, **bearer(key))

    if parameter is None:
        assert response.status_code == 200
        assert response.json()["results"] == []
    else:
        assert response.status_code == 400, response.content
        assert parameter in _errors(response)


# --- whole numbers wherever they are read --------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
_DIGIT_TEST = re.compile(r"\.is(?:digit|decimal|numeric)\(")


def _product_modules() -> list[Path]:
    found = []
    for folder, folders, files in os.walk(ROOT):
        folders[:] = [name for name in folders if not name.startswith(".") and name not in ("tests", "node_modules")]
        found += [Path(folder, name) for name in files if name.endswith(".py")]
    return [path for path in found if path != ROOT / "core" / "numbers.py"]


def test_no_product_code_tests_for_digits_with_str_isdigit():
    """`str.isdigit()` takes `²` for a digit and `int()` then fails: the class behind `?account=²`, and later
    `Stripe-Signature: t=²`, a Segment trait `seats: "²"` and `?playbook=²` on My work. Whole numbers written as
    text are read by core/numbers.py only."""
    found = [f"{path.relative_to(ROOT)}:{number}" for path in _product_modules()
             for number, line in enumerate(path.read_text().splitlines(), 1) if _DIGIT_TEST.search(line)]

    assert found == []


@pytest.mark.parametrize("quarter", ["\u0662\u0660\u0662\u0666-Q4", "\uff12\uff10\uff12\uff16-Q4"])
def test_a_quarter_in_another_scripts_digits_is_a_400_from_validation_naming_the_field(client, key, nps, quarter):
    """Python's `\\d` takes Arabic-Indic and fullwidth digits; PostgreSQL's check constraint did not, so the
    database refused what validation let through (named `__all__` for a target)."""
    review = _json(client, "post", "/api/v1/reviews/", {"quarter": quarter}, key)
    target = _json(client, "post", "/api/v1/kpis/nps/targets", {"period": quarter, "value": 40, "reason": "x"}, key)

    assert (review.status_code, target.status_code) == (400, 400)
    assert "YYYY-Qn" in _errors(review)["quarter"]
    assert set(_errors(target)) == {"period"}


@pytest.mark.parametrize("playbook", ["\u00b2", "99999999999999999999", "-1"])
def test_my_works_playbook_filter_that_is_no_id_is_said_not_a_500(playbook):
    filters, errors = CockpitFilters.from_query({"playbook": playbook})

    assert filters.playbook is None
    assert errors == [f"Unknown playbook {playbook!r}: showing every playbook."]


@pytest.mark.parametrize("path", ["/api/v1/kpis/nps/values?scope=account&subject=%C2%B2",
                                  "/api/v1/kpis/nps/explain?as_of=2026-11-20&subject=%C2%B2"])
def test_a_subject_in_unicode_digits_is_an_external_id_that_matches_nothing(client, key, nps, path):
    """`?subject=²` passed str.isdigit(), and int() then failed: a 500 on both (issue #20)."""
    response = client.get(path, **bearer(key))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body.get("results", []) == [] and body.get("value") is None


# --- NUL characters and unparsable JSON -------------------------------------------------------------------


def test_a_nul_character_in_a_body_is_a_400_naming_where_it_is(client, key, nps):
    response = _json(client, "post", "/api/v1/alert-rules/",
                     b'{"kpi": "nps\\u0000", "name": "x", "condition": "below", "threshold": 1}', key)
    nested = _json(client, "patch", "/api/v1/kpis/nps/", b'{"params": {"window_days": "9\\u0000"}}', key)

    assert response.status_code == 400
    assert _errors(response) == {"kpi": "must not contain NUL characters"}
    assert _errors(nested) == {"params.window_days": "must not contain NUL characters"}


def test_an_escaped_backslash_before_u0000_is_text_not_a_nul(client, key, nps):
    response = _json(client, "post", "/api/v1/kpis/nps/annotations/",
                     b'{"date": "2026-11-20", "text": "path C:\\\\u0000"}', key)

    assert response.status_code == 201
    assert response.json()["text"] == "path C:\\u0000"


@pytest.mark.parametrize(("path", "body"), [
    ("/api/v1/alert-rules/", b"[" * 5_000),
    ("/api/v1/alert-rules/", b'{"name": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"),
    ("/api/v1/alert-rules/", b"{" * 10_000),
    ("/api/v1/alert-rules/", b'{"name": NaN}'),
    ("/api/v1/alert-rules/", b'{"name": "\xff"}'),
    ("/api/v1/alert-rules/", b'{"name": 1' + b"0" * 5000 + b"}"),
    ("/api/v1/events/bulk", b'{"events": ' + b"[" * 200_000),
    ("/api/v1/events/bulk", b'{"events": [{"id": "e\xff"}]}'),
])
def test_json_that_cannot_be_parsed_is_a_400_however_it_fails(client, key, path, body):
    """Python's parser hit its recursion limit on deep nesting (a 500); orjson (bulk) stops at 1,024 levels."""
    response = _json(client, "post", path, body, key)

    assert response.status_code == 400, response.content[:300]
    assert "not valid JSON" in response.json()["detail"]


def test_200000_nested_brackets_are_refused_before_parsing(client, key):
    response = _json(client, "post", "/api/v1/alert-rules/", b"[" * 200_000, key)

    assert response.status_code == 413
    assert "more than 20,000 JSON values" in response.json()["detail"]


# --- responses match the schema -------------------------------------------------------------------------


def test_revenue_months_are_written_as_the_schema_says(client, key):
    snapshot = RevenueSnapshotFactory(month=dt.date(2026, 12, 1))
    month_schema = DOCUMENT["components"]["schemas"]["RevenueSnapshotOut"]["properties"]["month"]

    body = client.get(f"/api/v1/accounts/{snapshot.account_id}/revenue/", **bearer(key)).json()

    assert body["results"][0]["month"] == "2026-12"
    assert month_schema == {"type": "string", "pattern": r"^\d{4}-(0[1-9]|1[0-2])$", "example": "2026-11"}


@override_settings(DEBUG=True)
def test_a_patch_without_its_trailing_slash_reaches_its_endpoint_even_under_debug(client, key, nps):
    """Django's APPEND_SLASH raised a RuntimeError (a 500) here under DEBUG, and redirected (dropping the body)
    otherwise."""
    response = _json(client, "patch", "/api/v1/kpis/nps", {"name": "Net Promoter Score"}, key)

    assert response.status_code == 200
    nps.refresh_from_db()
    assert nps.name == "Net Promoter Score"
