"""`manage.py apikey_create`: an operator issues a key for one tenant and sees it once."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django_tenants.utils import schema_context

from integrations.models import ApiKey
from integrations.services import hash_secret
from tests.accounts.factories import AccountFactory
from tests.integrations.conftest import post_json
from tests.integrations.factories import EventItemFactory


def _run(*args: str) -> str:
    out = StringIO()
    call_command("apikey_create", *args, stdout=out)
    return out.getvalue()


def test_the_command_prints_a_key_that_works_on_its_tenant(client, tenant):
    output = _run("--tenant", "alpha", "--name", "Segment", "--scopes", "ingest,read")

    secret = output.strip().splitlines()[-1]
    stored = ApiKey.objects.get()
    assert (stored.name, stored.scopes, stored.hashed_secret) == ("Segment", ["ingest", "read"], hash_secret(secret))
    assert "for tenant 'alpha' with scopes ingest, read" in output
    assert "never shown again" in output
    AccountFactory(external_id="CRM-1")
    response = post_json(client, "/api/v1/events/bulk", {"events": [EventItemFactory()]},
                         HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200
    assert client.get("/api/v1/accounts/", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200


def test_the_key_belongs_to_the_tenant_named_only(client, other_client, other_tenant):
    secret = _run("--tenant", "bravo", "--name", "Segment", "--scopes", "read").strip().splitlines()[-1]

    assert not ApiKey.objects.exists()
    with schema_context(other_tenant.schema_name):
        assert ApiKey.objects.get().name == "Segment"
    assert client.get("/api/v1/accounts/", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401
    assert other_client.get("/api/v1/accounts/", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200


@pytest.mark.parametrize(("args", "message"), [
    (("--tenant", "alpha", "--name", "Segment", "--scopes", "ingest,write"), "Unknown scope"),
    (("--tenant", "alpha", "--name", "Segment", "--scopes", ","), "at least one scope"),
    (("--tenant", "alpha", "--name", " ", "--scopes", "read"), "needs a name"),
    (("--tenant", "nowhere", "--name", "Segment", "--scopes", "read"), "No tenant with slug 'nowhere'"),
    (("--tenant", "public", "--name", "Segment", "--scopes", "read"), "No tenant with slug 'public'"),
])
def test_bad_scopes_names_or_tenants_are_a_command_error_and_issue_nothing(args, message, other_tenant):
    with pytest.raises(CommandError, match=message):
        _run(*args)

    assert not ApiKey.objects.exists()
    with schema_context(other_tenant.schema_name):
        assert not ApiKey.objects.exists()
