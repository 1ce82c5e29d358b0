"""API keys over the API (admin scope): secrets shown once and stored hashed, revocation, each tenant seeing
only its own. (Data health, which reads customer data too, is tested in tests/accounts/test_data_health_api.py.)"""

from __future__ import annotations

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from core.api.scopes import Scope
from integrations.models import ApiKey
from integrations.services import hash_secret
from tests.accounts.factories import AccountFactory
from tests.conftest import login
from tests.integrations.conftest import post_json
from tests.integrations.factories import ApiKeyFactory, EventItemFactory, bearer
from tests.users.factories import UserFactory
from users.models import Role

KEYS = "/api/v1/api-keys/"


def _get(client, path: str, key=None):
    return client.get(path, **(bearer(key) if key else {}))


# --- API keys ---------------------------------------------------------------------------------------------


def test_admins_list_keys_without_any_secret(client, admin_key):
    ApiKeyFactory(name="Segment", scopes=[Scope.INGEST])

    response = _get(client, KEYS, admin_key)

    assert response.status_code == 200
    rows = response.json()
    assert [row["name"] for row in rows] == ["Segment", admin_key.api_key.name]
    assert set(rows[0]) == {"id", "name", "prefix", "scopes", "created_at", "last_used_at", "revoked_at"}
    assert rows[0]["scopes"] == ["ingest"]
    assert admin_key.secret not in response.content.decode()


def test_a_created_key_is_shown_once_stored_hashed_and_works(client, admin_key):
    response = post_json(client, KEYS, {"name": "Segment", "scopes": ["ingest", "read"]}, admin_key)

    assert response.status_code == 201, response.content
    body = response.json()
    secret = body["key"]
    stored = ApiKey.objects.get(pk=body["id"])
    assert secret.startswith(f"bw_{body['prefix']}_")
    assert (stored.name, stored.scopes, stored.hashed_secret) == ("Segment", ["ingest", "read"], hash_secret(secret))
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(k)::text FROM integrations_apikey k")
        assert not any(secret in row for (row,) in cursor.fetchall())
    assert secret not in _get(client, KEYS, admin_key).content.decode()
    AccountFactory(external_id="CRM-1")
    pushed = post_json(client, "/api/v1/events/bulk", {"events": [EventItemFactory()]},
                       HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert pushed.status_code == 200


def test_a_key_created_by_a_signed_in_admin_records_who(client):
    admin = UserFactory(role=Role.ADMIN)
    login(client, admin)

    response = post_json(client, KEYS, {"name": "Zapier", "scopes": ["read"]})

    assert response.status_code == 201
    assert ApiKey.objects.get().created_by == admin


@pytest.mark.parametrize("payload", [
    {"name": "Segment", "scopes": ["write"]}, {"name": "Segment", "scopes": []}, {"scopes": ["read"]},
    {"name": "", "scopes": ["read"]}, {"name": "Segment", "scopes": "read"},
])
def test_a_key_with_bad_scopes_or_no_name_is_a_400_and_not_created(client, admin_key, payload):
    response = post_json(client, KEYS, payload, admin_key)

    assert response.status_code == 400
    assert list(ApiKey.objects.all()) == [admin_key.api_key]


def test_a_revoked_key_is_refused_at_once(client, admin_key, ingest_key):
    response = post_json(client, f"/api/v1/api-keys/{ingest_key.api_key.pk}/revoke", b"", admin_key)

    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    assert ApiKey.objects.get(pk=ingest_key.api_key.pk).revoked_at is not None
    assert _get(client, "/api/v1/accounts/", ingest_key).status_code == 401


def test_revoking_twice_keeps_the_first_revocation_time(client, admin_key, ingest_key):
    first = post_json(client, f"/api/v1/api-keys/{ingest_key.api_key.pk}/revoke", b"", admin_key).json()

    again = post_json(client, f"/api/v1/api-keys/{ingest_key.api_key.pk}/revoke", b"", admin_key)

    assert again.status_code == 200
    assert again.json()["revoked_at"] == first["revoked_at"]


def test_revoking_an_unknown_key_is_a_404(client, admin_key):
    assert post_json(client, "/api/v1/api-keys/999999/revoke", b"", admin_key).status_code == 404


@pytest.mark.parametrize(("method", "path"), [("get", KEYS), ("post", KEYS), ("post", "/api/v1/api-keys/{pk}/revoke")])
def test_keys_need_the_admin_scope(client, ingest_key, method, path):
    path = path.format(pk=ingest_key.api_key.pk)

    if method == "post":
        response = post_json(client, path, {"name": "X", "scopes": ["admin"]}, ingest_key)
    else:
        response = _get(client, path, ingest_key)

    assert response.status_code == 403
    assert response.json()["detail"] == "This needs the 'admin' scope."
    assert ApiKey.objects.get().revoked_at is None


@pytest.mark.parametrize("role", [Role.LEADER, Role.MANAGER, Role.CSM])
def test_people_other_than_admins_cannot_manage_keys(client, role):
    login(client, UserFactory(role=role))

    assert client.get(KEYS).status_code == 403
    assert post_json(client, KEYS, {"name": "X", "scopes": ["admin"]}).status_code == 403
    assert not ApiKey.objects.exists()


def test_keys_of_another_tenant_are_neither_listed_nor_revocable_here(client, admin_key, other_tenant):
    with schema_context(other_tenant.schema_name):
        bravo = ApiKeyFactory(name="Bravo CRM")

    listed = _get(client, KEYS, admin_key)
    revoke = post_json(client, f"/api/v1/api-keys/{bravo.api_key.pk}/revoke", b"", admin_key)

    assert "Bravo CRM" not in listed.content.decode()
    assert revoke.status_code == 404
    with schema_context(other_tenant.schema_name):
        assert ApiKey.objects.get().revoked_at is None


def test_an_admin_key_of_another_tenant_is_a_401_here(client, other_tenant):
    with schema_context(other_tenant.schema_name):
        bravo_admin = ApiKeyFactory(scopes=[Scope.ADMIN])

    assert _get(client, KEYS, bravo_admin).status_code == 401
