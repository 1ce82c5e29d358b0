"""The product's own error pages (config/errors.py): in its layout, saying what happened and where to go, under
development settings too; the 500 page needs no database; API paths keep JSON errors."""

from __future__ import annotations

import json

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client, RequestFactory
from django.urls import get_resolver

from config import errors
from tests.conftest import TenantClient, login
from tests.users.factories import UserFactory
from users.models import Role


def _text(response) -> str:
    return response.content.decode()


def test_a_page_the_role_may_not_open_says_why_in_the_layout(client):
    login(client, UserFactory(role=Role.CSM, full_name="Casey Sample"))

    response = client.get("/settings/")

    assert response.status_code == 403
    assert "403.html" in [template.name for template in response.templates]
    page = _text(response)
    assert "You cannot open this page" in page
    assert "Your role cannot open this page." in page  # the view's own reason
    assert "signed in as Casey Sample (CSM)" in page and "ask an admin of" in page
    assert 'href="/work/"' in page  # the layout's navigation: somewhere to go
    assert "Go to your home page" in page


def test_a_missing_page_is_the_products_404(client):
    login(client, UserFactory(role=Role.CSM))

    response = client.get("/no/such/page/")

    assert response.status_code == 404
    page = _text(response)
    assert "There is no such page" in page and "Nothing is at this address" in page
    assert "/no/such/page/" not in page  # the path is not echoed (tests/hardening/test_isolation_matrix.py)
    assert 'class="topbar"' in page and "Go to your home page" in page


@pytest.mark.parametrize("debug", [True, False])
def test_an_address_that_is_no_team_gets_a_friendly_404_even_in_development(settings, debug):
    settings.DEBUG = debug

    response = Client(HTTP_HOST=f"nosuch.{django_settings.BASE_DOMAIN}").get("/accounts/")

    assert response.status_code == 404
    page = _text(response)
    assert "No team uses this address" in page
    assert f"<code>nosuch.{django_settings.BASE_DOMAIN}</code> is not one of them" in page
    assert f'href="http://{django_settings.BASE_DOMAIN}/"' in page  # the start page, on the bare domain
    assert "Page not found at" not in page  # not Django's debug page


def test_an_api_path_on_an_address_that_is_no_team_answers_json():
    response = Client(HTTP_HOST=f"nosuch.{django_settings.BASE_DOMAIN}").get("/api/v1/accounts/")

    assert response.status_code == 404
    assert response.json() == {"detail": "No team is served at this address."}


def test_an_unknown_api_path_answers_json_not_a_page(client):
    response = client.get("/api/v1/no-such-endpoint/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["detail"] == ("No API endpoint at /api/v1/no-such-endpoint/; "
                                                      "see /api/v1/docs/.")


def test_a_form_that_fails_its_csrf_check_is_explained(tenant):
    browser = TenantClient(tenant, enforce_csrf_checks=True)

    response = browser.post("/login/", {"username": "admin@alpha.example", "password": "whatever"})

    assert response.status_code == 403
    page = _text(response)
    assert "This form could not be sent" in page and "Nothing was saved." in page
    assert "reload the page, and send the form again" in page


def test_a_request_django_refuses_to_read_is_the_products_400(client):
    fields = {f"field{n}": "x" for n in range(django_settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)}

    response = client.post("/login/", fields)

    assert response.status_code == 400
    assert "The request could not be understood" in _text(response)


def test_the_500_page_renders_without_touching_the_database():
    def refuse(*args, **kwargs):
        raise AssertionError("the 500 page queried the database")

    request = RequestFactory().get("/accounts/", HTTP_HOST=f"alpha.{django_settings.BASE_DOMAIN}")
    with connection.execute_wrapper(refuse):
        response = errors.server_error(request)

    assert response.status_code == 500
    page = _text(response)
    assert "Something went wrong on our side" in page and 'class="topbar"' in page


def test_a_500_on_an_api_path_is_json():
    response = errors.server_error(RequestFactory().get("/api/v1/accounts/"))

    assert response.status_code == 500
    assert "Server error" in json.loads(response.content)["detail"]


@pytest.mark.parametrize("urlconf", [django_settings.ROOT_URLCONF, django_settings.PUBLIC_SCHEMA_URLCONF])
def test_both_hosts_use_the_products_handlers(urlconf):
    resolver = get_resolver(urlconf)

    assert [resolver.resolve_error_handler(status) for status in (400, 403, 404, 500)] == [
        errors.bad_request, errors.permission_denied, errors.page_not_found, errors.server_error]
