"""Signing in: every tenant page needs it, and each role lands where its work is."""

import pytest

from tests.conftest import PASSWORD, login
from tests.users.factories import UserFactory
from users.models import Role


@pytest.mark.parametrize("path", ["/", "/work/", "/dashboard/", "/accounts/", "/admin/"])
def test_every_tenant_page_requires_login(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/") or response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize(
    ("role", "landing"),
    [(Role.CSM, "/work/"), (Role.LEADER, "/dashboard/"), (Role.ADMIN, "/dashboard/"),
     (Role.MANAGER, "/team/"), (Role.VIEWER, "/dashboard/")],
)
def test_home_sends_each_role_to_its_landing_page(client, role, landing):
    login(client, UserFactory(role=role))

    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == landing
    assert client.get(landing).status_code == 200


def test_csm_is_sent_from_the_dashboard_to_their_work(client):
    login(client, UserFactory(role=Role.CSM))

    response = client.get("/dashboard/")

    assert response.status_code == 302
    assert response["Location"] == "/work/"


def test_wrong_password_is_refused_with_a_message(client):
    user = UserFactory()

    response = client.post("/login/", {"username": user.email, "password": "wrong"})

    assert response.status_code == 200
    assert b"didn't match" in response.content
    assert client.get("/work/").status_code == 302


def test_inactive_user_cannot_sign_in(client):
    user = UserFactory(is_active=False)

    response = client.post("/login/", {"username": user.email, "password": PASSWORD})

    assert response.status_code == 200
    assert client.get("/work/").status_code == 302


def test_one_time_password_forces_a_new_password_before_anything_else(client):
    user = UserFactory(role=Role.LEADER, password_change_required=True)
    login(client, user)

    assert client.get("/dashboard/")["Location"] == "/password/"
    response = client.post("/password/", {
        "old_password": PASSWORD,
        "new_password1": "a-much-better-secret-42",
        "new_password2": "a-much-better-secret-42",
    })

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.password_change_required is False
    assert user.check_password("a-much-better-secret-42")
    assert client.get("/dashboard/").status_code == 200


def test_logout_ends_the_session(client):
    login(client, UserFactory(role=Role.LEADER))

    assert client.post("/logout/").status_code == 302
    assert client.get("/dashboard/").status_code == 302


def test_only_admins_reach_the_django_admin(client):
    login(client, UserFactory(role=Role.LEADER))
    assert client.get("/admin/").status_code == 302

    admin_client = type(client)(client.tenant)
    login(admin_client, UserFactory(role=Role.ADMIN))
    assert admin_client.get("/admin/").status_code == 200
    for model in ("users/user", "accounts/account", "accounts/usageevent", "accounts/revenuesnapshot",
                  "accounts/surveyresponse", "accounts/supportticket", "accounts/usagedaily"):
        assert admin_client.get(f"/admin/{model}/").status_code == 200, model
