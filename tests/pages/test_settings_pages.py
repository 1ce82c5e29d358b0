"""Settings, for admins only: users and roles (invite, role and manager, deactivate, with the rules that keep
a tenant manageable) and the response SLAs (validated as the settings API validates them)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from audit.models import AuditEntry
from tenants.models import Tenant
from tests.conftest import PASSWORD, login
from tests.users.factories import UserFactory
from users.models import Role, User
from users.services import user_deactivate, user_update

PAGES = ["/settings/", "/settings/users/", "/settings/sla/"]


@pytest.fixture
def admin():
    return UserFactory(role=Role.ADMIN, full_name="Ada Admin", email="ada@alpha.example")


@pytest.fixture
def admin_client(client, admin):
    return login(client, admin)


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("role", [Role.CSM, Role.MANAGER, Role.LEADER, Role.VIEWER])
def test_only_admins_open_settings(client, path, role):
    login(client, UserFactory(role=role))

    assert client.get(path).status_code == 403


def test_non_admins_cannot_change_users_by_posting_either(client):
    target = UserFactory(role=Role.CSM)
    login(client, UserFactory(role=Role.CSM))

    assert client.post(f"/settings/users/{target.pk}/", {"role": Role.ADMIN}).status_code == 403
    assert client.post(f"/settings/users/{target.pk}/deactivate/").status_code == 403
    assert client.post("/settings/users/", {"email": "x@alpha.example", "role": Role.ADMIN}).status_code == 403
    target.refresh_from_db()
    assert (target.role, target.is_active) == (Role.CSM, True)
    assert not User.objects.filter(email="x@alpha.example").exists()


def test_the_hub_links_users_slas_and_api_keys(admin_client):
    content = admin_client.get("/settings/").content.decode()

    for path in ("/settings/users/", "/settings/sla/", "/settings/api-keys/"):
        assert f'href="{path}"' in content


def test_the_hub_links_webhooks_only_when_they_exist(admin_client):
    from django.urls import NoReverseMatch, reverse

    try:
        webhooks = reverse("webhooks")
    except NoReverseMatch:
        webhooks = None
    content = admin_client.get("/settings/").content.decode()

    assert (">Webhooks</a>" in content) is (webhooks is not None)


def test_users_page_lists_everyone_with_role_manager_and_status(admin_client, admin):
    boss = UserFactory(role=Role.MANAGER, full_name="Bo Boss")
    UserFactory(role=Role.CSM, full_name="Cy Csm", manager=boss)
    UserFactory(role=Role.CSM, full_name="Gone Person", is_active=False)

    response = admin_client.get("/settings/users/")

    rows = [(person.full_name, person.role, person.manager and person.manager.full_name, person.is_active)
            for person in response.context["users"] if person.full_name != "Alpha"]
    assert ("Cy Csm", Role.CSM, "Bo Boss", True) in rows
    assert rows[-1] == ("Gone Person", Role.CSM, None, False)  # the deactivated last
    content = response.content.decode()
    assert "Bo Boss" in content and "deactivated" in content
    assert f'aria-label="Deactivate {admin}"' not in content  # no button to lock yourself out


def test_inviting_creates_the_user_with_a_one_time_password_shown_once(admin_client):
    boss = UserFactory(role=Role.MANAGER)

    response = admin_client.post("/settings/users/", {"email": "New.Person@Alpha.example", "full_name": "New Person",
                                                      "role": Role.CSM, "manager": boss.pk})

    assert response.status_code == 200
    person = User.objects.get(email="new.person@alpha.example")
    user, password = response.context["invited"]
    assert user == person and password in response.content.decode()
    assert (person.role, person.manager, person.password_change_required) == (Role.CSM, boss, True)
    assert person.check_password(password)
    assert admin_client.get("/settings/users/").context["invited"] is None


@pytest.mark.parametrize(("form", "field", "message"), [
    ({"email": "not-an-email", "role": Role.CSM}, "email", "Enter a valid email address."),
    ({"email": "ADA@alpha.example", "role": Role.CSM}, "email", "User with this Email already exists."),
    ({"email": "n@alpha.example", "role": "overlord"}, "role", "Select a valid choice."),
])
def test_a_bad_invitation_shows_its_error_and_creates_nobody(admin_client, form, field, message):
    before = User.objects.count()

    response = admin_client.post("/settings/users/", form)

    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert User.objects.count() == before


def test_a_csm_cannot_be_anyones_manager(admin_client):
    csm = UserFactory(role=Role.CSM)

    response = admin_client.post("/settings/users/", {"email": "n@alpha.example", "role": Role.CSM, "manager": csm.pk})

    assert response.status_code == 400
    assert "Select a valid choice" in str(response.context["form"].errors["manager"])


def test_changing_role_and_manager(admin_client):
    boss = UserFactory(role=Role.LEADER, full_name="Lee Leader")
    person = UserFactory(role=Role.CSM)

    response = admin_client.post(f"/settings/users/{person.pk}/", {"role": Role.MANAGER, "manager": boss.pk})

    assert response.status_code == 302
    person.refresh_from_db()
    assert (person.role, person.manager) == (Role.MANAGER, boss)


def test_a_manager_loop_is_refused_on_the_page(admin_client):
    top = UserFactory(role=Role.MANAGER, full_name="Top")
    middle = UserFactory(role=Role.MANAGER, full_name="Middle", manager=top)

    response = admin_client.post(f"/settings/users/{top.pk}/", {"role": Role.MANAGER, "manager": middle.pk})

    assert response.status_code == 400
    assert "cannot report to their own report" in " ".join(response.context["form"].errors["manager"])
    top.refresh_from_db()
    assert top.manager is None


def test_the_last_admin_keeps_the_admin_role(admin_client, admin):
    User.objects.filter(role=Role.ADMIN).exclude(pk=admin.pk).update(is_active=False)

    response = admin_client.post(f"/settings/users/{admin.pk}/", {"role": Role.LEADER})

    assert response.status_code == 400
    assert "last active admin" in response.content.decode()
    admin.refresh_from_db()
    assert admin.role == Role.ADMIN


def test_deactivating_and_reactivating_a_user_is_audited_with_the_admin_as_actor(admin_client, admin):
    person = UserFactory(role=Role.CSM)

    assert admin_client.post(f"/settings/users/{person.pk}/deactivate/").status_code == 302
    assert admin_client.post(f"/settings/users/{person.pk}/deactivate/").status_code == 302  # a double click
    person.refresh_from_db()
    assert person.is_active is False
    assert admin_client.post(f"/settings/users/{person.pk}/reactivate/").status_code == 302
    person.refresh_from_db()
    assert person.is_active is True

    entries = AuditEntry.objects.filter(object_type="users.user", object_id=str(person.pk),
                                        action__in=["deactivated", "reactivated"]).order_by("at", "id")
    assert [(entry.action, entry.changes, entry.actor_user_id) for entry in entries] == [
        ("deactivated", {"is_active": (True, False)}, admin.pk),
        ("reactivated", {"is_active": (False, True)}, admin.pk),
    ]


def test_a_deactivated_user_cannot_sign_in(client, admin_client):
    person = UserFactory(role=Role.LEADER)
    admin_client.post(f"/settings/users/{person.pk}/deactivate/")
    admin_client.logout()

    response = client.post("/login/", {"username": person.email, "password": PASSWORD})

    assert response.status_code == 200  # the form again, not a redirect


def test_an_admin_cannot_deactivate_themselves(admin_client, admin):
    response = admin_client.post(f"/settings/users/{admin.pk}/deactivate/", follow=True)

    assert "You cannot deactivate yourself" in response.content.decode()
    admin.refresh_from_db()
    assert admin.is_active is True


def test_the_last_admin_cannot_be_deactivated_or_demoted(admin):
    User.objects.filter(role=Role.ADMIN).exclude(pk=admin.pk).update(is_active=False)
    other = UserFactory(role=Role.LEADER)

    with pytest.raises(ValidationError, match="last active admin"):
        user_deactivate(user=admin, actor=other)
    with pytest.raises(ValidationError, match="last active admin"):
        user_update(user=admin, role=Role.LEADER, manager=None)
    second = UserFactory(role=Role.ADMIN)
    assert user_deactivate(user=admin, actor=second) is True


def test_users_page_queries_do_not_grow_with_users(admin_client, django_assert_max_num_queries):
    counts = []
    for batch in (1, 30):
        managers = UserFactory.create_batch(batch, role=Role.MANAGER)
        for boss in managers:
            UserFactory(role=Role.CSM, manager=boss)
        with django_assert_max_num_queries(8) as captured:
            assert admin_client.get("/settings/users/").status_code == 200
        counts.append(len(captured))
    assert counts[0] == counts[1]


# --- SLAs


def test_sla_page_shows_the_tenants_current_settings(admin_client, tenant):
    response = admin_client.get("/settings/sla/")

    values = {field["name"]: field["value"] for field in response.context["fields"]}
    assert values == {"sla_critical_hours": tenant.sla_critical_hours, "sla_high_hours": tenant.sla_high_hours,
                      "sla_medium_hours": tenant.sla_medium_hours, "sla_low_hours": tenant.sla_low_hours,
                      "escalation_manager_delay_hours": tenant.escalation_manager_delay_hours,
                      "escalation_leader_delay_hours": tenant.escalation_leader_delay_hours}
    assert response.context["to_leaders"] is tenant.escalation_to_leaders


def _sla_form(**changes) -> dict:
    form = {"sla_critical_hours": 4, "sla_high_hours": 24, "sla_medium_hours": 72, "sla_low_hours": 240,
            "escalation_manager_delay_hours": 2, "escalation_leader_delay_hours": 8, "escalation_to_leaders": "on"}
    return {name: value for name, value in {**form, **changes}.items() if value is not None}


def test_saving_slas_stores_them_on_the_tenant(admin_client, tenant):
    response = admin_client.post("/settings/sla/", _sla_form())

    assert response.status_code == 302
    stored = Tenant.objects.get(pk=tenant.pk)
    assert (stored.sla_critical_hours, stored.sla_high_hours, stored.sla_medium_hours, stored.sla_low_hours,
            stored.escalation_manager_delay_hours, stored.escalation_leader_delay_hours,
            stored.escalation_to_leaders) == (4, 24, 72, 240, 2, 8, True)
    entry = AuditEntry.objects.filter(object_type="tenants.tenant").latest("at")
    assert entry.changes["sla_critical_hours"][1] == 4 and entry.actor_label.startswith("ada@alpha.example")


def test_an_unticked_box_stops_the_escalation_at_the_manager(admin_client, tenant):
    assert admin_client.post("/settings/sla/", _sla_form(escalation_to_leaders=None)).status_code == 302

    assert Tenant.objects.get(pk=tenant.pk).escalation_to_leaders is False
    assert admin_client.get("/settings/sla/").context["to_leaders"] is False


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"sla_high_hours": 2}, "sla_high_hours", "A more severe breach cannot get a longer SLA."),
    ({"sla_critical_hours": 0}, "sla_critical_hours", "greater than or equal to 1"),
    ({"escalation_leader_delay_hours": "soon"}, "escalation_leader_delay_hours", "A valid integer is required."),
    ({"sla_low_hours": ""}, "sla_low_hours", "A valid integer is required."),
    ({"escalation_manager_delay_hours": 12}, "escalation_leader_delay_hours", "The leaders cannot be told before"),
])
def test_bad_slas_show_the_apis_message_and_change_nothing(admin_client, tenant, changes, field, message):
    before = Tenant.objects.values("sla_critical_hours", "sla_high_hours", "sla_low_hours",
                                   "escalation_manager_delay_hours").get(pk=tenant.pk)

    response = admin_client.post("/settings/sla/", _sla_form(**changes))

    assert response.status_code == 400
    errors = {row["name"]: " ".join(row["errors"]) for row in response.context["fields"]}
    assert message in errors[field]
    assert message in response.content.decode()
    assert Tenant.objects.values("sla_critical_hours", "sla_high_hours", "sla_low_hours",
                                 "escalation_manager_delay_hours").get(pk=tenant.pk) == before


def test_settings_pages_queries_are_fixed(admin_client, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        assert admin_client.get("/settings/").status_code == 200
    with django_assert_max_num_queries(7):
        assert admin_client.get("/settings/sla/").status_code == 200


# --- tenants


def test_bravos_admin_cannot_reach_alphas_settings(client, other_client, other_tenant):
    bravo = other_client.post("/login/", {"username": "admin@bravo.example", "password": PASSWORD})
    assert bravo.status_code == 302  # bravo's admin signs in to bravo

    on_alpha = client.post("/login/", {"username": "admin@bravo.example", "password": PASSWORD})
    assert on_alpha.status_code == 200  # not a user of alpha

    client.cookies = other_client.cookies  # bravo's session cookie sent to alpha's host
    response = client.get("/settings/users/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert connection.schema_name == "alpha"
