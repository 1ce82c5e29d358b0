"""The metrics API: KPIs by slug, values, explain, targets, versions, compute runs, glossary, cohorts."""

import datetime as dt
from decimal import Decimal

import pytest
from django_tenants.utils import schema_context

from metrics.models import KPI, ComputationRun, MetricValue
from metrics.services import kpi_compute, kpi_create
from tests.accounts.factories import AccountFactory, RevenueSnapshotFactory, SurveyResponseFactory
from tests.conftest import login
from tests.integrations.conftest import post_json
from tests.integrations.factories import bearer
from tests.users.factories import UserFactory
from users.models import Role

AS_OF = dt.date(2026, 11, 20)


@pytest.fixture
def nps():
    kpi = kpi_create(slug="nps", name="NPS", calculator="surveys.nps", params={"window_days": 30},
                     definition="Promoters minus detractors.", tier="advocacy", indicator="lagging", unit="score")
    promoter = AccountFactory(name="Promoter Inc", plan="Growth")
    detractor = AccountFactory(name="Detractor Co", plan="Starter")
    SurveyResponseFactory(account=promoter, kind="nps", score=10, responded_at=dt.datetime(2026, 11, 10, tzinfo=dt.UTC))
    SurveyResponseFactory(account=detractor, kind="nps", score=3, responded_at=dt.datetime(2026, 11, 10, tzinfo=dt.UTC))
    kpi_compute(kpi=kpi, as_of=AS_OF)
    return kpi


def _body(**overrides):
    return {"slug": "csat", "name": "CSAT", "calculator": "surveys.csat", "params": {"window_days": 60},
            "definition": "Satisfied answers.", "tier": "advocacy", "indicator": "lagging", "unit": "percent",
            **overrides}


def test_admin_key_creates_a_kpi_with_its_first_version(client, admin_key):
    response = post_json(client, "/api/v1/kpis/", _body(), admin_key)

    assert response.status_code == 201, response.content
    assert response.json()["formula"].startswith("CSAT =")
    kpi = KPI.objects.get(slug="csat")
    assert (kpi.version, kpi.params) == (1, {"window_days": 60})
    assert kpi.versions.get().calculator == "surveys.csat"


@pytest.mark.parametrize(("body", "field"), [
    (_body(params={"window_days": 0}), "params"),
    (_body(calculator="nope.nope"), "calculator"),
    (_body(tier="vanity"), "tier"),
    (_body(owner="nobody@example.com"), "owner"),
])
def test_bad_kpi_definitions_are_400_with_the_field(client, admin_key, body, field):
    response = post_json(client, "/api/v1/kpis/", body, admin_key)

    assert response.status_code == 400
    assert field in response.content.decode()
    assert not KPI.objects.filter(slug="csat").exists()


def test_read_key_cannot_create_or_change_kpis(client, read_key, nps):
    assert post_json(client, "/api/v1/kpis/", _body(), read_key).status_code == 403
    response = client.patch("/api/v1/kpis/nps/", {"name": "x"}, content_type="application/json", **bearer(read_key))
    assert response.status_code == 403


def test_patching_params_bumps_the_version_with_the_reason(client, admin_key, nps):
    response = client.patch("/api/v1/kpis/nps/", {"params": {"window_days": 90}, "reason": "Quarterly cadence"},
                            content_type="application/json", **bearer(admin_key))

    assert response.status_code == 200, response.content
    assert response.json()["version"] == 2
    versions = client.get("/api/v1/kpis/nps/versions", **bearer(admin_key)).json()
    assert [(v["version"], v["reason"]) for v in versions] == [(2, "Quarterly cadence"), (1, "Created")]


def test_marking_a_seventh_core_kpi_warns(client, admin_key):
    for n in range(6):
        kpi_create(slug=f"core-{n}", name=f"Core {n}", calculator="surveys.nps", definition="d", tier="advocacy",
                   indicator="lagging", unit="score", is_core=True)

    response = post_json(client, "/api/v1/kpis/", _body(is_core=True), admin_key)

    assert response.status_code == 201
    assert "7 KPIs are marked core" in response.json()["warning"]


def test_values_by_scope_and_subject(client, read_key, nps):
    promoter = MetricValue.objects.get(kpi=nps, scope="account", value=100).account_id

    portfolio = client.get("/api/v1/kpis/nps/values", **bearer(read_key)).json()["results"]
    account = client.get(f"/api/v1/kpis/nps/values?scope=account&subject={promoter}", **bearer(read_key)).json()
    segment = client.get("/api/v1/kpis/nps/values?scope=segment&subject=plan:Growth", **bearer(read_key)).json()

    assert [(row["as_of"], row["value"], row["numerator"], row["denominator"], row["kpi_version"])
            for row in portfolio] == [("2026-11-20", 0.0, 0.0, 2.0, 1)]
    assert [row["value"] for row in account["results"]] == [100.0]
    assert [(row["subject"], row["value"]) for row in segment["results"]] == [("plan:Growth", 100.0)]


@pytest.mark.parametrize("query", ["scope=galaxy", "scope=account&subject=99999999999999999999",
                                   "scope=account&subject=external_id:", "scope=segment&subject=Growth",
                                   "scope=segment&subject=galaxy:far", "from=2026-13-01"])
def test_bad_value_queries_are_400(client, read_key, nps, query):
    assert client.get(f"/api/v1/kpis/nps/values?{query}", **bearer(read_key)).status_code == 400


def test_explain_lists_the_accounts_behind_the_portfolio_value(client, read_key, nps):
    body = client.get("/api/v1/kpis/nps/explain?as_of=2026-11-20", **bearer(read_key)).json()

    assert body["value"]["value"] == 0
    assert {(row["name"], row["numerator"], row["denominator"]) for row in body["accounts"]} == {
        ("Promoter Inc", 1.0, 1.0), ("Detractor Co", -1.0, 1.0)}


def test_explain_of_an_uncomputed_kpi_is_404(client, read_key):
    kpi_create(slug="ces", name="CES", calculator="surveys.ces", definition="d", tier="advocacy",
               indicator="lagging", unit="score")

    assert client.get("/api/v1/kpis/ces/explain", **bearer(read_key)).status_code == 404


def test_targets_keep_history(client, admin_key, nps):
    for value, reason in [(30, "Plan"), (40, "Raised")]:
        response = post_json(client, "/api/v1/kpis/nps/targets", {"period": "2026-Q4", "value": value,
                                                                  "reason": reason}, admin_key)
        assert response.status_code == 201

    targets = client.get("/api/v1/kpis/nps/targets", **bearer(admin_key)).json()

    assert [(t["value"], t["reason"], t["superseded_at"] is None) for t in targets] == [
        (40.0, "Raised", True), (30.0, "Plan", False)]
    assert post_json(client, "/api/v1/kpis/nps/targets", {"period": "2026-Q5", "value": 1, "reason": "x"},
                     admin_key).status_code == 400


def test_compute_endpoint_creates_a_run_that_a_worker_executes(client, admin_key, nps,
                                                               django_capture_on_commit_callbacks, settings):
    from config.celery import app

    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = post_json(client, "/api/v1/metrics/compute", {"kpis": ["nps"], "as_of": "2026-11-19"},
                                 admin_key)
    finally:
        app.conf.task_always_eager = False

    assert response.status_code == 202, response.content
    run = ComputationRun.objects.get(pk=response.json()["id"])
    assert run.status == ComputationRun.Status.SUCCEEDED
    assert MetricValue.objects.filter(kpi=nps, as_of=dt.date(2026, 11, 19), scope="portfolio").exists()
    polled = client.get(f"/api/v1/metrics/runs/{run.pk}", **bearer(admin_key)).json()
    assert polled["status"] == "succeeded" and polled["values_computed"] == polled["rows_written"] > 0


@pytest.mark.parametrize(("body", "message"), [
    ({"kpis": ["nope"], "as_of": "2026-11-19"}, "Unknown KPI"),
    ({"as_of": "2999-01-01"}, "future"),
    ({"as_of": "yesterday"}, "as_of"),
])
def test_compute_refuses_bad_requests(client, admin_key, nps, body, message):
    response = post_json(client, "/api/v1/metrics/compute", body, admin_key)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ComputationRun.objects.exists()


def test_glossary_has_definition_and_formula_for_people(client, nps):
    login(client, UserFactory(role=Role.VIEWER))

    entries = client.get("/api/v1/glossary/").json()

    assert entries[0]["slug"] == "nps"
    assert "passives" in entries[0]["formula"]
    assert entries[0]["definition"] == "Promoters minus detractors."


def test_cohort_curves_by_start_month(client, read_key):
    # Two accounts start in 2026-01 with 100 each; one churns in 2026-03, the other expands to 150 in 2026-02.
    keeper, leaver = AccountFactory(), AccountFactory()
    for month, keep, leave in [(1, "100", "100"), (2, "150", "100"), (3, "150", "0")]:
        RevenueSnapshotFactory(account=keeper, month=dt.date(2026, month, 1), mrr=Decimal(keep))
        RevenueSnapshotFactory(account=leaver, month=dt.date(2026, month, 1), mrr=Decimal(leave))

    cohorts = client.get("/api/v1/cohorts/?as_of=2026-03-15&months=2", **bearer(read_key)).json()

    assert len(cohorts) == 1
    months = {m["k"]: m for m in cohorts[0]["months"]}
    assert cohorts[0]["accounts"] == 2
    assert months[0] == {"k": 0, "logo_retention": 100.0, "grr": 100.0, "nrr": 100.0}
    assert months[1] == {"k": 1, "logo_retention": 100.0, "grr": 100.0, "nrr": 125.0}
    assert months[2] == {"k": 2, "logo_retention": 50.0, "grr": 50.0, "nrr": 75.0}


def test_another_tenants_key_and_kpis_are_out_of_reach(client, other_client, nps, other_tenant):
    from integrations.services import api_key_create

    with schema_context(other_tenant.schema_name):
        bravo_key = api_key_create(name="bravo", scopes="read,admin")

    assert client.get("/api/v1/kpis/", HTTP_AUTHORIZATION=f"Bearer {bravo_key.secret}").status_code == 401
    assert client.get("/api/v1/kpis/nps/values", HTTP_AUTHORIZATION=f"Bearer {bravo_key.secret}").status_code == 401
    bravo_view = other_client.get("/api/v1/kpis/", HTTP_AUTHORIZATION=f"Bearer {bravo_key.secret}")
    assert bravo_view.status_code == 200
    assert "nps" not in [kpi["slug"] for kpi in bravo_view.json()]
    assert other_client.get("/api/v1/kpis/nps/explain",
                            HTTP_AUTHORIZATION=f"Bearer {bravo_key.secret}").status_code == 404
