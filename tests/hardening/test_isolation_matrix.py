"""Tenant isolation for every route of the tenant URLconf, generated from it so no endpoint can be forgotten.

For each route (pages, the admin and the API) and each method its view answers:
(a) alpha's API key and alpha's admin session sent to bravo's host, with bravo's own ids, are refused
    (401/403/404, or a redirect to a sign-in page) and show nothing of bravo's;
(b) bravo's ids through alpha's host with alpha's credentials are 403/404 and show nothing of bravo's;
    a route without ids is read through alpha's host and must not show bravo's rows either.
After all of a route's requests, bravo's rows are exactly as before: nothing was written across tenants.
"""

from __future__ import annotations

import copy

import orjson
import pytest
from django.http import HttpResponse
from django_tenants.utils import schema_context

from integrations.services import IssuedKey
from tests.conftest import TenantClient
from tests.hardening.bravo import MARK, OBJECTS, WRITE_BODIES, Literal, World, references
from tests.hardening.routes import Route, tenant_routes
from tests.integrations.factories import bearer

ROUTES = tenant_routes()

# Routes that answer anyone on any host by design; for them only "no bravo data, no server error" is asserted.
PUBLIC = {
    "healthz": "the load balancer's probe",
    "login": "the sign-in form",
    "logout": "signing out needs no session",
    "admin:login": "the admin's sign-in form",
    "admin:logout": "signing out needs no session",
    "api-schema": "the OpenAPI document is the same for every tenant (tests/integrations/test_schema.py)",
    "api-docs": "the Swagger page that reads the schema",
}
SIGN_IN_PAGES = ("/login/", "/admin/login/")
CROSS_HOST_REFUSALS = {401, 403, 404}
FOREIGN_ID_REFUSALS = {403, 404}


def _content(response: HttpResponse) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _send(client: TenantClient, route: Route, method: str, path: str, key: IssuedKey | None) -> HttpResponse:
    """One request as an integration (JSON, bearer key) or a browser (form post, session cookie) would send it."""
    extra = bearer(key) if key else {}
    if method == "GET":
        return client.get(path, **extra)
    body = WRITE_BODIES.get((route.key, method), {})
    if route.is_api:
        return client.generic(method, path, orjson.dumps(body), content_type="application/json", **extra)
    return client.post(path, body, **extra) if method == "POST" else client.generic(method, path, **extra)


def _credentials(route: Route, alpha_key: IssuedKey) -> list[IssuedKey | None]:
    """The API takes a key or a session; pages only a session (None: the session cookie alone)."""
    return [alpha_key, None] if route.is_api else [None]


def _assert_no_bravo_data(response: HttpResponse, where: str) -> None:
    assert response.status_code < 500, f"{where}: server error {response.status_code}"
    assert MARK.lower().encode() not in _content(response).lower(), f"{where}: bravo's data in the response"


def _filled_path(route: Route, bravo: World) -> str:
    return route.path({kwarg: bravo.value(ref) for kwarg, ref in references(route).items()})


def _is_sign_in_redirect(response: HttpResponse) -> bool:
    return response.status_code in (301, 302) and response["Location"].startswith(SIGN_IN_PAGES)


def test_every_path_parameter_of_every_route_is_registered():
    """One list of everything to register, rather than one failure per route."""
    missing = []
    for route in ROUTES:
        try:
            references(route)
        except LookupError as error:
            missing.append(str(error))
    assert not missing, "\n".join(missing)


def test_every_registered_object_is_created_in_bravo_only(bravo, tenant):
    """The registry's objects live in bravo and their ids name nothing in alpha, or (b) would prove nothing."""
    with schema_context(tenant.schema_name):
        for label, obj in bravo._objects.items():
            if label != "contenttypes.contenttype":  # the same rows in every schema by construction
                assert not type(obj).objects.filter(pk=obj.pk).exists(), label
    assert set(bravo._objects) == set(OBJECTS)


def _refused_on_bravos_host(route: Route, path: str, keys: list[IssuedKey | None], client: TenantClient) -> None:
    """(a): alpha's key or session on bravo's host, naming bravo's own objects."""
    for key in keys:
        for method in route.methods:
            where = f"{method} {path} on bravo's host with alpha's {'API key' if key else 'session'}"
            response = _send(client, route, method, path, key)
            _assert_no_bravo_data(response, where)
            if route.key not in PUBLIC:
                assert response.status_code in CROSS_HOST_REFUSALS or _is_sign_in_redirect(response), (
                    f"{where}: {response.status_code} {_content(response)[:300]!r}")


def _bravos_ids_refused_on_alphas_host(route: Route, path: str, takes_ids: bool, keys: list[IssuedKey | None],
                                       client: TenantClient) -> None:
    """(b): bravo's ids through alpha's host; a route without ids is read and must not show bravo's rows."""
    methods = route.methods if takes_ids else tuple(method for method in route.methods if method == "GET")
    for key in keys:
        for method in methods:
            where = f"{method} {path} on alpha's host with alpha's {'API key' if key else 'session'}"
            response = _send(client, route, method, path, key)
            _assert_no_bravo_data(response, where)
            if not takes_ids:
                continue
            assert response.status_code != 400, (
                f"{where}: 400 before the object was looked up; register a valid body in WRITE_BODIES "
                f"[({route.key!r}, {method!r})] in tests/hardening/bravo.py so the lookup is tested")
            refused = FOREIGN_ID_REFUSALS | ({405} if not route.methods_known else set())
            # The admin answers an unknown object id with a redirect to its index ("perhaps it was deleted").
            admin_redirect = route.is_admin and response.status_code == 302
            assert response.status_code in refused or admin_redirect, (
                f"{where}: {response.status_code} {_content(response)[:300]!r}")


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.key)
def test_route_keeps_the_tenants_apart(route, bravo, alpha_key, alpha_admin_client, other_tenant):
    path = _filled_path(route, bravo)
    takes_ids = any(not isinstance(ref, Literal) for ref in references(route).values())
    keys = _credentials(route, alpha_key)
    # An attacker replaying alpha's session cookie on bravo's host (a copy: bravo's sign-out must not end alpha's).
    bravo_host = TenantClient(other_tenant)
    bravo_host.cookies = copy.deepcopy(alpha_admin_client.cookies)
    before = bravo.snapshot()

    _refused_on_bravos_host(route, path, keys, bravo_host)
    _bravos_ids_refused_on_alphas_host(route, path, takes_ids, keys, alpha_admin_client)

    assert bravo.snapshot() == before, f"{route.key}: a request from alpha changed bravo's rows"
