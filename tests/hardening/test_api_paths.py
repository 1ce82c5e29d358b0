"""Every API route answers the same with or without its trailing slash, and a path that is no endpoint is a JSON
404 (core/api/addressing.py): integrations write URLs by hand, and Django's APPEND_SLASH answered a missing
slash with a redirect that drops the body, or a 500 under DEBUG.

Generated from the URLconf, like the isolation matrix: a route added tomorrow is covered the day it is added.
"""

from __future__ import annotations

import orjson
import pytest
from django.db import transaction
from django.test import override_settings

from core.api.scopes import Scope
from tests.hardening.bravo import World, references
from tests.hardening.routes import Route, tenant_routes
from tests.integrations.factories import ApiKeyFactory, bearer

API_ROUTES = [route for route in tenant_routes() if route.is_api]


def _toggled(path: str) -> str:
    return path.removesuffix("/") if path.endswith("/") else f"{path}/"


def _answer(client, method: str, path: str, key) -> tuple[int, str]:
    """The status and content type, with every change rolled back: both forms meet the same rows."""
    with transaction.atomic():
        if method == "GET":
            response = client.get(path, **bearer(key))
        else:
            response = client.generic(method, path, orjson.dumps({}), content_type="application/json", **bearer(key))
        transaction.set_rollback(True)
    return response.status_code, response.headers.get("Content-Type", "").split(";")[0]


@pytest.mark.parametrize("route", API_ROUTES, ids=lambda route: route.key)
@override_settings(DEBUG=True)  # where APPEND_SLASH raised a RuntimeError for a POST, PUT or PATCH
def test_every_api_route_answers_the_same_with_or_without_its_trailing_slash(route: Route, client, tenant):
    world = World(tenant.schema_name)
    key = ApiKeyFactory(scopes=[Scope.INGEST, Scope.READ, Scope.ADMIN])
    values = {kwarg: world.value(reference) for kwarg, reference in references(route).items()}
    path = route.path(values)

    for method in route.methods:
        written, other = _answer(client, method, path, key), _answer(client, method, _toggled(path), key)

        assert other == written, (method, path, _toggled(path))
        assert other[0] < 500 and not 300 <= other[0] < 400, (method, path, other)


@pytest.mark.parametrize("path", ["/api/v1/no-such-thing", "/api/v1/kpis/nps/versions/extra/", "/api/v1",
                                  "/api/v2/accounts/"])
def test_a_path_that_names_no_api_endpoint_is_a_json_404(client, path):
    response = client.patch(path, b"{}", content_type="application/json")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"].startswith("No API endpoint at ")

