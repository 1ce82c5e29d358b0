"""`/healthz` reports the database and the broker; the public host serves only the landing page."""

from django.test import override_settings


def test_healthz_reports_database_and_broker_up(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True


@override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0")
def test_healthz_is_503_and_names_the_broker_when_it_is_down(client):
    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["broker"]["error"]


def test_public_host_serves_landing_page_not_tenant_pages(public_client):
    landing = public_client.get("/")
    assert landing.status_code == 200
    assert b"customer-success platform" in landing.content

    for tenant_url in ("/login/", "/dashboard/", "/accounts/", "/admin/"):
        assert public_client.get(tenant_url).status_code == 404, tenant_url


def test_unknown_host_is_404(db):
    from django.test import Client

    assert Client(HTTP_HOST="nobody.localhost").get("/login/").status_code == 404
