"""New tenants' schemas made from the template's recipe (pg_dump's DDL replayed), or by django-tenants' clone where
no recipe can be made: either way, exactly the template."""

import logging
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import connection
from django_tenants.utils import schema_context

from tenants.models import SchemaRecipe
from tenants.services import tenant_create
from tenants.template import code_migrations, fingerprint, schema_constraint_names_align, template_migrations
from tests.tenants.test_services import _schema_objects


def _definition(schema: str) -> set[tuple[str, ...]]:
    """Columns (type, nullability, default, identity), triggers and functions of a schema, without its name."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT 'column', table_name::text, column_name::text, data_type::text, is_nullable::text,
                   coalesce(column_default, '')::text, is_identity::text
            FROM information_schema.columns WHERE table_schema = %(schema)s
            UNION ALL
            SELECT 'trigger', c.relname, t.tgname, pg_get_triggerdef(t.oid), '', '', ''
            FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %(schema)s AND NOT t.tgisinternal
            UNION ALL
            SELECT 'function', p.proname, pg_get_functiondef(p.oid), '', '', '', ''
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %(schema)s
            """,
            {"schema": schema},
        )
        return {tuple(str(value).replace(f"{schema}.", "") for value in row) for row in cursor.fetchall()}


def _rows(schema: str, table: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT * FROM "{schema}"."{table}" ORDER BY id')
        return cursor.fetchall()


def test_a_new_tenant_is_made_from_the_recipe_of_the_current_template():
    tenant_create(slug="recipe-co", name="Recipe Co", admin_email="a@recipe.example")

    current = template_migrations()
    assert code_migrations() <= current
    assert SchemaRecipe.objects.filter(fingerprint=fingerprint(current)).exists()
    template = settings.TENANT_BASE_SCHEMA
    definition = _definition(template)
    assert {row[0] for row in definition} == {"column", "trigger", "function"}
    assert _definition("recipe_co") == definition


def test_the_templates_rows_come_along_and_its_sequences_carry_on_past_them():
    from django.contrib.contenttypes.models import ContentType

    tenant_create(slug="rows-co", name="Rows Co", admin_email="a@rows.example")

    template = settings.TENANT_BASE_SCHEMA
    for table in ("django_migrations", "django_content_type", "auth_permission"):
        assert _rows("rows_co", table) == _rows(template, table)
    with schema_context("rows_co"):
        added = ContentType.objects.create(app_label="elsewhere", model="thing")
    assert added.pk > max(row[0] for row in _rows(template, "django_content_type"))


def test_replaying_a_recipe_leaves_the_connection_as_it_found_it():
    """pg_dump's session settings (no statement timeout, no function body checks) end with the creating
    transaction: a pooled connection must not keep them. Run on a connection of its own, outside the test's
    transaction, as a command or a request would."""
    from tenants.models import Tenant

    def create_and_look() -> list:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET statement_timeout = '5min'")
                tenant_create(slug="tidy-co", name="Tidy Co", admin_email="a@tidy.example")
                cursor.execute("SELECT current_setting('statement_timeout'), current_setting('check_function_bodies')")
                return list(cursor.fetchone())
        finally:
            Tenant.objects.filter(slug="tidy-co").first().delete(force_drop=True)
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as thread:
        settings_after = thread.submit(create_and_look).result()

    assert settings_after == ["5min", "on"]
    assert not Tenant.objects.filter(slug="tidy-co").exists()


def test_a_recipe_of_another_state_of_the_template_is_not_used_but_replaced(settings):
    SchemaRecipe.objects.update(fingerprint="0" * 64, sql="SELECT 1 / 0;")  # a stale recipe would fail loudly

    tenant_create(slug="fresh-co", name="Fresh Co", admin_email="a@fresh.example")

    assert list(SchemaRecipe.objects.values_list("fingerprint", flat=True)) == [fingerprint(template_migrations())]
    assert _definition("fresh_co") == _definition(settings.TENANT_BASE_SCHEMA)


def test_without_a_usable_pg_dump_tenants_are_cloned_by_django_tenants(settings, caplog):
    SchemaRecipe.objects.all().delete()
    settings.PG_DUMP = "/nonexistent/pg_dump"

    with caplog.at_level(logging.WARNING, logger="tenants.template"):
        tenant_create(slug="clone-co", name="Clone Co", admin_email="a@clone.example")

    assert "no schema recipe" in caplog.text and "/nonexistent/pg_dump" in caplog.text
    assert not SchemaRecipe.objects.exists()
    assert _definition("clone_co") == _definition(settings.TENANT_BASE_SCHEMA)
    assert _schema_objects("clone_co") == _schema_objects(settings.TENANT_BASE_SCHEMA)  # names aligned
    assert _rows("clone_co", "django_migrations") == _rows(settings.TENANT_BASE_SCHEMA, "django_migrations")


def test_a_stale_template_is_migrated_before_it_is_copied():
    """A template missing a migration of the code is brought up to date first, so no tenant starts behind."""
    template = settings.TENANT_BASE_SCHEMA
    with connection.cursor() as cursor:  # a public-schema migration: recorded in the template, no table there
        cursor.execute(f'DELETE FROM "{template}".django_migrations '
                       "WHERE app = 'tenants' AND name = '0004_schema_recipe'")
    assert not code_migrations() <= template_migrations()

    tenant_create(slug="late-co", name="Late Co", admin_email="a@late.example")

    assert code_migrations() <= template_migrations()
    assert _rows("late_co", "django_migrations") == _rows(template, "django_migrations")


def test_misnamed_constraints_get_the_templates_names_back_in_one_pass_over_the_tenants():
    """What django-tenants' clone leaves (PostgreSQL's default names); platform_migrate puts them right."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE bravo.accounts_account RENAME CONSTRAINT account_external_id_unique "
                       "TO accounts_account_external_id_key")

    assert schema_constraint_names_align(source=settings.TENANT_BASE_SCHEMA, targets=["alpha", "bravo"]) == 1
    assert _schema_objects("bravo") == _schema_objects(settings.TENANT_BASE_SCHEMA)
    assert schema_constraint_names_align(source=settings.TENANT_BASE_SCHEMA, targets=["alpha", "bravo"]) == 0
