"""The OpenAPI document and its docs page, and schemathesis driving the ingest endpoints from it."""

from __future__ import annotations

import re

import pytest
import schemathesis
import yaml
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django_tenants.utils import schema_context
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts import ingestion
from core.api.scopes import Scope
from tenants.services import tenant_host
from tests.accounts.factories import AccountFactory
from tests.integrations.factories import ApiKeyFactory

BULK_PATHS = ["/api/v1/accounts/bulk", "/api/v1/events/bulk", "/api/v1/revenue/bulk", "/api/v1/surveys/bulk",
              "/api/v1/tickets/bulk"]


def _document(client) -> dict:
    response = client.get("/api/v1/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_the_schema_is_a_valid_openapi_3_document(client):
    document = _document(client)

    validate_schema(document)
    assert document["openapi"].startswith("3.")
    assert document["components"]["securitySchemes"]["apiKey"] == {
        "type": "http", "scheme": "bearer", "description": "An API key: `Authorization: Bearer bw_...`"}


def test_the_schema_documents_every_endpoint_of_the_api(client):
    paths = _document(client)["paths"]

    assert {path: sorted(paths[path]) for path in BULK_PATHS} == {path: ["post"] for path in BULK_PATHS}
    for path in ("/api/v1/accounts/", "/api/v1/accounts/{id}/", "/api/v1/accounts/{id}/events/",
                 "/api/v1/accounts/{id}/revenue/", "/api/v1/accounts/{id}/surveys/",
                 "/api/v1/accounts/{id}/tickets/", "/api/v1/accounts/import", "/api/v1/revenue/import",
                 "/api/v1/api-keys/", "/api/v1/api-keys/{id}/revoke", "/api/v1/data-health/"):
        assert path in paths


def test_each_bulk_endpoint_documents_its_items_and_its_errors(client):
    document = _document(client)
    events = document["paths"]["/api/v1/events/bulk"]["post"]

    assert {"400", "401", "403", "413", "415", "422", "429"} <= set(events["responses"])
    assert any(parameter["name"] == "Idempotency-Key" for parameter in events["parameters"])
    assert set(events["requestBody"]["content"]) == {"application/json", "application/x-ndjson"}
    item = document["components"]["schemas"]["UsageEventInRequest"]
    assert set(item["required"]) == {"id", "account", "user", "event", "timestamp"}
    assert item["properties"]["timestamp"]["format"] == "date-time"


@pytest.mark.parametrize("path", BULK_PATHS[:1] + BULK_PATHS[2:])
def test_bulk_endpoints_document_only_the_json_bodies_they_accept(client, path):
    assert list(_document(client)["paths"][path]["post"]["requestBody"]["content"]) == ["application/json"]


def test_reads_document_their_error_answers(client):
    paths = _document(client)["paths"]

    for path in ("/api/v1/accounts/", "/api/v1/accounts/{id}/", "/api/v1/accounts/{id}/events/"):
        assert {"200", "400", "401", "403", "404", "429"} <= set(paths[path]["get"]["responses"]), path


def test_every_tenant_is_served_the_same_schema_with_nothing_of_its_own_in_it(client, other_client, other_tenant):
    with schema_context(other_tenant.schema_name):
        AccountFactory(external_id="BRAVO-SECRET", plan="Bravo Platinum")
        ApiKeyFactory(name="Bravo CRM")

    alpha, bravo = client.get("/api/v1/schema/"), other_client.get("/api/v1/schema/")

    assert alpha.content == bravo.content
    assert not any(secret in alpha.content for secret in (b"BRAVO-SECRET", b"Bravo Platinum", b"Bravo CRM"))


def test_the_docs_page_loads_with_no_third_party_assets(client):
    response = client.get("/api/v1/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", html)
    assets = re.findall(r"(?:src|href)=\"(/static/[^\"]+)\"", html)
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets)
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


# --- schemathesis -----------------------------------------------------------------------------------------


@pytest.fixture
def wsgi_app():
    """The real WSGI application, called in-process within the test's transaction.

    Django's handler closes the database connection around each request (close_old_connections), which
    would end the test's transaction; Django's own test client switches that off the same way.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield WSGIHandler()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SPECS = {"/api/v1/accounts/bulk": ("accounts", ingestion.ACCOUNT_SPEC),
         "/api/v1/events/bulk": ("events", ingestion.EVENT_SPEC),
         "/api/v1/revenue/bulk": ("snapshots", ingestion.REVENUE_SPEC),
         "/api/v1/surveys/bulk": ("responses", ingestion.SURVEY_SPEC),
         "/api/v1/tickets/bulk": ("tickets", ingestion.TICKET_SPEC)}


def _within_contract(case) -> None:
    """Keep only the fields the API knows and point every item at a stored account.

    The schema cannot say `additionalProperties: false` (drf-spectacular has no way to), so most generated
    bodies carry unknown fields and stop at validation; these bodies go on to the writes.
    """
    list_key, spec = SPECS[case.path]
    if isinstance(case.body, dict) and isinstance(case.body.get(list_key), list):
        items = [{name: value for name, value in item.items() if name in spec.fields}
                 for item in case.body[list_key] if isinstance(item, dict)]
        for item in items:
            if "account" in spec.fields:
                item["account"] = "CRM-0"
        case.body = {list_key: items or [{}]}


def _drive(operation, headers: dict, app, prepare=None) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=25, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def call(case):
        if prepare:
            prepare(case)
        response = case.call(app=app, headers=headers)
        case.validate_response(response, checks=CHECKS)

    call()


def test_schemathesis_finds_no_server_error_or_schema_violation_on_ingest_endpoints(tenant, wsgi_app):
    for n in range(3):
        AccountFactory(external_id=f"CRM-{n}")
    issued = ApiKeyFactory(scopes=[Scope.INGEST, Scope.READ])
    host = tenant_host(tenant.slug)
    headers = {"Host": host, "Authorization": f"Bearer {issued.secret}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", wsgi_app, headers={"Host": host})

    for path in BULK_PATHS:
        _drive(schema[path]["POST"], headers, wsgi_app)
        _drive(schema[path]["POST"], headers, wsgi_app, prepare=_within_contract)
    _drive(schema["/api/v1/accounts/"]["GET"], headers, wsgi_app)
