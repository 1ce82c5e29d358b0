"""schemathesis over every operation of the OpenAPI schema: no server error, and every answer is one the schema
documents (status code, content type, body).

How it runs: the schema is generated offline by drf-spectacular at collection (one test per operation, so a
failure names its endpoint); each request goes to the real WSGI application in-process, on tenant alpha's
host, with an API key of alpha holding every scope and no rate limit. Alpha holds one row of every kind (the
isolation matrix's objects, tests/hardening/bravo.py), path parameters name them, and bodies and queries
often name them too (a review, an owner, a KPI, an account), so writes get past the lookups to the
validation and the database behind them. Each example runs in a savepoint that is rolled back: no example
sees another's changes, and the key can never revoke itself.

Each operation is driven three ways: bodies and parameters that fit the schema, ones that break it (every
one must be refused with a 4xx), and the same bodies sent as forms and multipart (the API takes JSON; only
file uploads take multipart, so each must be a documented 415). Examples are derandomized, so the run is
repeatable. 96 operations: about 85 s of this process's CPU (plus PostgreSQL's); on a quiet two-core machine
about two minutes of wall time.
"""

from __future__ import annotations

import copy
import re

import pytest
import schemathesis
from django.db import transaction
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from core.api.scopes import Scope
from core.api.throttling import CallerRateThrottle
from tenants.services import tenant_host
from tests.hardening.bravo import World, references
from tests.hardening.routes import tenant_routes
from tests.integrations.factories import ApiKeyFactory
from tests.integrations.test_schema import CHECKS, wsgi_app  # noqa: F401 - wsgi_app is a fixture

POSITIVE_EXAMPLES = 20
NEGATIVE_EXAMPLES = 10
FORM_EXAMPLES = 3
JSON = "application/json"
FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")

DOCUMENT = SchemaGenerator().get_schema(request=None, public=True)
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


def _as_forms(document: dict) -> dict:
    """The document with every JSON body offered as a form and as multipart instead, as a client might send."""
    forms = copy.deepcopy(document)
    for methods in forms["paths"].values():
        for operation in methods.values():
            content = operation.get("requestBody", {}).get("content", {})
            if JSON in content:
                body = content.pop(JSON)
                content.clear()
                content.update({media_type: copy.deepcopy(body) for media_type in FORMS})
    return forms


FORM_SCHEMA = schemathesis.openapi.from_dict(_as_forms(DOCUMENT))
_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")


def _route_references() -> dict[str, dict[str, str]]:
    """Schema path (`/api/v1/alert-rules/{id}/`) -> its path parameters' references to alpha's objects."""
    found = {}
    for route in tenant_routes():
        if route.is_api and route.kwargs:
            path = "/" + _CONVERTER.sub(lambda match: "{id}" if match[1] == "pk" else f"{{{match[1]}}}", route.pattern)
            found[path] = {"id" if kwarg == "pk" else kwarg: reference
                           for kwarg, reference in references(route).items()}
    return found


ROUTE_REFERENCES = _route_references()


class Alpha:
    """Alpha's objects, and the values that name them in bodies and queries."""

    def __init__(self, world: World) -> None:
        self.world = world
        account = world["accounts.account"]
        self.names = {
            "review": world["reviews.review"].pk, "kpi": world["metrics.kpi"].slug,
            "owner": world["users.user"].email, "assignee": world["users.user"].email,
            "facilitator": world["users.user"].email, "attendees": [world["users.user"].email],
            "kpis": [world["metrics.kpi"].slug], "playbook": world["playbooks.playbook"].pk,
            "alert_rule": world["metrics.alertrule"].pk, "account": account.pk,
        }
        self.accounts = [str(account.pk), account.external_id, f"external_id:{account.external_id}"]

    def prepare(self, case, data) -> None:
        """Fill the path from alpha's objects; name alpha's objects in most bodies and queries."""
        if case.path_parameters:
            for name, reference in ROUTE_REFERENCES.get(case.operation.path, {}).items():
                case.path_parameters[name] = self.world.value(reference)
        if isinstance(case.body, dict) and data.draw(st.integers(0, 3), label="name objects"):
            for name, value in self.names.items():
                if name in case.body:
                    case.body[name] = value
        if case.query:
            for name in ("account", "subject"):
                if name in case.query and data.draw(st.booleans(), label=f"real {name}"):
                    case.query[name] = data.draw(st.sampled_from(self.accounts), label=name)


@pytest.fixture
def alpha(tenant) -> Alpha:
    return Alpha(World(tenant.schema_name))


@pytest.fixture
def unthrottled_key(monkeypatch):
    """Every scope and no rate limit: a 429 would hide what the fuzzer is looking for."""
    monkeypatch.setattr(CallerRateThrottle, "allow_request", lambda self, request, view: True)
    return ApiKeyFactory(name="Fuzzer", scopes=[Scope.INGEST, Scope.READ, Scope.ADMIN])


def _drive(strategy, examples: int, alpha: Alpha, headers: dict, app) -> None:
    @given(case=strategy, data=st.data())
    @settings(max_examples=examples, derandomize=True, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def call(case, data):
        alpha.prepare(case, data)
        with transaction.atomic():
            response = case.call(app=app, headers=headers)
            transaction.set_rollback(True)
        case.validate_response(response, checks=CHECKS)

    call()


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
def test_operation_answers_only_what_the_schema_documents(operation, tenant, alpha, unthrottled_key,
                                                          wsgi_app):  # noqa: F811
    alpha.world.build_all()
    headers = {"Host": tenant_host(tenant.slug), "Authorization": f"Bearer {unthrottled_key.secret}"}

    _drive(operation.as_strategy(GenerationMode.POSITIVE), POSITIVE_EXAMPLES, alpha, headers, wsgi_app)
    _drive(operation.as_strategy(GenerationMode.NEGATIVE), NEGATIVE_EXAMPLES, alpha, headers, wsgi_app)
    if JSON in operation.definition.raw.get("requestBody", {}).get("content", {}):
        as_form = FORM_SCHEMA[operation.path][operation.method.upper()]
        _drive(as_form.as_strategy(GenerationMode.POSITIVE), FORM_EXAMPLES, alpha, headers, wsgi_app)


def test_every_operation_documents_the_errors_its_shared_layers_give():
    """Authentication, scopes and throttling answer on every operation; a path parameter can name nothing."""
    for path, methods in DOCUMENT["paths"].items():
        for method, operation in methods.items():
            documented = set(operation["responses"])
            assert {"401", "403", "429"} <= documented, (method, path)
            if method in ("post", "put", "patch", "delete"):
                assert "413" in documented, (method, path)
            if "requestBody" in operation:
                assert {"400", "415"} <= documented, (method, path)
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
