"""Creating a tenant: schema, host name and first admin together, or nothing at all."""

import re

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.utils import schema_context, schema_exists

from tenants.models import Domain, Tenant
from tenants.services import TenantError, tenant_create
from users.models import Role, User


def test_tenant_create_makes_schema_domain_and_admin_with_one_time_password():
    created = tenant_create(slug="globex", name="Globex", admin_email="Ops@Globex.example")

    tenant = Tenant.objects.get(slug="globex")
    assert tenant.schema_name == "globex"
    assert schema_exists("globex")
    assert Domain.objects.get(tenant=tenant, is_primary=True).domain == "globex.localhost"
    with schema_context("globex"):
        admin = User.objects.get()
        assert admin.email == "ops@globex.example"
        assert admin.role == Role.ADMIN
        assert admin.password_change_required is True
        assert admin.check_password(created.admin_password)
        assert len(created.admin_password) >= 16


def test_tenant_create_turns_hyphens_into_a_valid_schema_name():
    tenant_create(slug="north-wind", name="Northwind", admin_email="a@nw.example")

    assert Tenant.objects.get(slug="north-wind").schema_name == "north_wind"
    assert schema_exists("north_wind")


def test_new_tenant_schema_has_every_tenant_table_and_no_rows_of_others(client):
    tenant_create(slug="initech", name="Initech", admin_email="a@initech.example")

    with schema_context("initech"):
        from accounts.models import Account

        assert Account.objects.count() == 0
        assert "accounts_usageevent" in connection.introspection.table_names()


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("ab", "3-40 characters"),
        ("Has Space", "3-40 characters"),
        ("1starts-with-digit", "3-40 characters"),
        ("ends-with-", "3-40 characters"),
        ("under_score", "3-40 characters"),
        ("x" * 41, "3-40 characters"),
        ("www", "reserved"),
        ("public", "reserved"),
        ("alpha", "already taken"),
    ],
)
def test_tenant_create_refuses_bad_or_taken_slug_and_writes_nothing(slug, message):
    tenants_before = Tenant.objects.count()
    domains_before = Domain.objects.count()

    with pytest.raises(TenantError, match=message):
        tenant_create(slug=slug, name="Somebody", admin_email="a@b.example")

    assert Tenant.objects.count() == tenants_before
    assert Domain.objects.count() == domains_before


def test_tenant_create_refuses_bad_email_and_empty_name():
    with pytest.raises(TenantError, match="not a valid email"):
        tenant_create(slug="umbrella", name="Umbrella", admin_email="not-an-email")
    with pytest.raises(TenantError, match="needs a name"):
        tenant_create(slug="umbrella", name="  ", admin_email="a@umbrella.example")
    assert not Tenant.objects.filter(slug="umbrella").exists()
    assert not schema_exists("umbrella")


def test_tenant_create_command_prints_url_and_one_time_password(capsys, settings):
    settings.PORT = 8790  # the port `make run` serves on (PORT, or the one it recorded in the data folder)

    call_command("tenant_create", slug="hooli", name="Hooli", admin_email="admin@hooli.example")

    out = capsys.readouterr().out
    assert "http://hooli.localhost:8790/" in out
    assert "admin@hooli.example" in out
    password = out.split("Password: ")[1].split()[0]
    with schema_context("hooli"):
        assert User.objects.get(email="admin@hooli.example").check_password(password)


def test_tenant_create_command_refuses_taken_slug_with_clear_message():
    with pytest.raises(CommandError, match="already taken"):
        call_command("tenant_create", slug="bravo", name="Again", admin_email="x@bravo.example")


def _schema_objects(schema: str) -> set[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, con.conname || ' ' || pg_get_constraintdef(con.oid)
            FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %(schema)s
            UNION ALL
            SELECT tablename, indexname FROM pg_indexes WHERE schemaname = %(schema)s
            """,
            {"schema": schema},
        )
        # Foreign keys name their target with its schema; compare the shape, not the schema name.
        return {(table, _same_check(definition.replace(f"{schema}.", ""))) for table, definition in cursor.fetchall()}


def _same_check(definition: str) -> str:
    """A check on a list of strings in the form PostgreSQL gives it when it reads its own printed form again
    (as a schema made from pg_dump's output has it): the same check, each element cast instead of the array."""
    definition = re.sub(r"\((ARRAY\[[^\]]*\])\)::text\[\]", r"\1", definition)
    return re.sub(r"\(('[^']*'::character varying)\)::text", r"\1", definition)


def test_cloned_tenant_has_exactly_the_template_constraints_and_index_names():
    """A later migration finds constraints by name; a clone must not rename any."""
    from django.conf import settings

    tenant_create(slug="cyberdyne", name="Cyberdyne", admin_email="a@cyberdyne.example")

    template = _schema_objects(settings.TENANT_BASE_SCHEMA)
    assert template
    assert _schema_objects("cyberdyne") == template
