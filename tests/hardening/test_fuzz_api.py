"""schemathesis over every operation of the OpenAPI schema: no server error, and every answer is one the schema
documents (status code, content type, body).

How it runs: the schema is generated offline by drf-spectacular at collection (one test per operation, so a
failure names its endpoint); each request goes to the real WSGI application in-process, on tenant alpha's
host, inside the test's transaction (the `wsgi_app` fixture of tests/integrations/test_schema.py), with an
API key of alpha holding every scope. Examples are few and derandomized, so the run is repeatable and stays
within about a minute and a half on two cores; tests/integrations/test_schema.py drives the bulk endpoints
harder with bodies shaped to pass validation.
"""

from __future__ import annotations

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given, settings

from core.api.scopes import Scope
from tenants.services import tenant_host
from tests.accounts.factories import AccountFactory
from tests.integrations.factories import ApiKeyFactory
from tests.integrations.test_schema import CHECKS, wsgi_app  # noqa: F401 - wsgi_app is a fixture
from tests.metrics.factories import KPIFactory

MAX_EXAMPLES = 12
DOCUMENT = SchemaGenerator().get_schema(request=None, public=True)
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
def test_operation_answers_only_what_the_schema_documents(operation, tenant, wsgi_app):  # noqa: F811
    # A few stored rows, so reads return bodies to check and not only empty lists.
    AccountFactory(external_id="CRM-0")
    KPIFactory(slug="nps")
    issued = ApiKeyFactory(scopes=[Scope.INGEST, Scope.READ, Scope.ADMIN])
    headers = {"Host": tenant_host(tenant.slug), "Authorization": f"Bearer {issued.secret}"}

    @given(case=operation.as_strategy())
    @settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def call(case):
        response = case.call(app=wsgi_app, headers=headers)
        case.validate_response(response, checks=CHECKS)

    call()


def test_every_operation_documents_the_errors_its_shared_layers_give():
    """Authentication, scopes and throttling answer on every operation; a path parameter can name nothing."""
    for path, methods in DOCUMENT["paths"].items():
        for method, operation in methods.items():
            documented = set(operation["responses"])
            assert {"401", "403", "429"} <= documented, (method, path)
            if "{" in path:
                assert "404" in documented, (method, path)
                integers = [p["schema"] for p in operation["parameters"] if p["in"] == "path"
                            and p["schema"].get("type") == "integer"]
                assert all(schema.get("minimum") == 0 for schema in integers), (method, path)


def test_a_serializers_validation_error_has_the_documented_error_shape(client):
    issued = ApiKeyFactory(scopes=[Scope.READ, Scope.ADMIN])

    response = client.post("/api/v1/alert-rules/", {"kpi": "no-such-kpi", "name": "x", "condition": "below"},
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {issued.secret}")

    body = response.json()
    assert response.status_code == 400
    assert body["detail"] == "Invalid input."
    assert {"index": None, "field": "kpi", "message": "Object with slug=no-such-kpi does not exist."} in body["errors"]
    assert body["kpi"] == ["Object with slug=no-such-kpi does not exist."]  # DRF's own shape, kept for clients
