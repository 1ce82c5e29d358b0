"""Tenant isolation, the first security property: nothing of one tenant is reachable from another."""

import pytest
from django.core.cache import cache
from django.db import connection
from django_tenants.utils import schema_context

from accounts.models import Account
from tests.accounts.factories import AccountFactory
from tests.conftest import PASSWORD, login
from tests.users.factories import UserFactory
from users.models import Role


@pytest.fixture
def bravo_account(other_tenant):
    with schema_context(other_tenant.schema_name):
        account = AccountFactory(name="Bravo Secret Customer", owner=None)
    return account


def test_signed_in_user_of_one_tenant_is_refused_on_another_tenants_host(client, other_client):
    alpha_leader = UserFactory(role=Role.LEADER)
    login(client, alpha_leader)
    # The attacker replays alpha's session cookie against bravo's host.
    other_client.cookies = client.cookies

    for path in ("/", "/dashboard/", "/accounts/", "/work/"):
        response = other_client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/login/"), path


def test_credentials_of_one_tenant_do_not_sign_in_to_another(client, other_client):
    alpha_user = UserFactory(email="shared-name@example.com")

    response = other_client.post("/login/", {"username": alpha_user.email, "password": PASSWORD})

    assert response.status_code == 200
    assert other_client.get("/accounts/").status_code == 302


def test_nothing_of_the_other_tenant_is_visible_from_this_one(client, bravo_account):
    AccountFactory(name="Alpha Own Customer")
    login(client, UserFactory(role=Role.LEADER))

    listing = client.get("/accounts/")
    assert b"Alpha Own Customer" in listing.content
    assert b"Bravo Secret Customer" not in listing.content
    assert client.get("/dashboard/").context["summary"].active_accounts == 1
    assert list(Account.objects.values_list("name", flat=True)) == ["Alpha Own Customer"]


def test_other_tenants_account_id_is_404_through_this_host(client, bravo_account):
    login(client, UserFactory(role=Role.LEADER))
    assert not Account.objects.filter(pk=bravo_account.pk).exists()

    assert client.get(f"/accounts/{bravo_account.pk}/").status_code == 404


def test_same_external_id_may_exist_in_two_tenants_without_clash(bravo_account, other_tenant):
    AccountFactory(external_id=bravo_account.external_id, name="Alpha Twin")

    with schema_context(other_tenant.schema_name):
        assert Account.objects.get(external_id=bravo_account.external_id).name == "Bravo Secret Customer"
    assert Account.objects.get(external_id=bravo_account.external_id).name == "Alpha Twin"


def test_cache_keys_are_scoped_to_the_tenant(other_tenant):
    cache.set("dashboard:summary", "alpha's numbers", 30)
    try:
        with schema_context(other_tenant.schema_name):
            assert cache.get("dashboard:summary") is None
            cache.set("dashboard:summary", "bravo's numbers", 30)
        assert cache.get("dashboard:summary") == "alpha's numbers"
    finally:
        cache.delete("dashboard:summary")
        with schema_context(other_tenant.schema_name):
            cache.delete("dashboard:summary")


def test_tasks_are_sent_with_the_sending_tenants_schema(other_tenant):
    """tenant-schemas-celery puts the schema in the message headers; the worker switches to it."""
    from celery.signals import before_task_publish

    from accounts.tasks import usage_rollups_refresh_recent

    sent_schemas = []

    def record(sender, headers, **kwargs):
        sent_schemas.append(headers.get("_schema_name"))

    before_task_publish.connect(record, weak=False)
    try:
        usage_rollups_refresh_recent.delay()
        with schema_context(other_tenant.schema_name):
            usage_rollups_refresh_recent.delay()
    finally:
        before_task_publish.disconnect(record)
        usage_rollups_refresh_recent.app.control.purge()

    assert sent_schemas == [connection.tenant.schema_name, other_tenant.schema_name]
