"""The connectors in the Django admin: every model listed and opened, logs read-only, the signing secret masked,
and a Stripe customer linked by hand to its account applies the events held for it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib import admin
from django.utils import timezone

from connectors import models
from connectors.models import Connector
from connectors.services import connector_configure
from tests.accounts.factories import AccountFactory
from tests.conftest import login
from tests.connectors.test_stripe import SECRET, send, stripe_event
from tests.users.factories import UserFactory
from users.models import Role

MODELS = [models.ConnectorSettings, models.ConnectorCall, models.HeldCall, models.ReceivedEvent,
          models.AccountRef, models.BillingSubscription]
LOGS = [model for model in MODELS if model is not models.AccountRef]


@pytest.fixture
def operator(client):
    return login(client, UserFactory(role=Role.ADMIN))


@pytest.fixture
def rows():
    account = AccountFactory(external_id="ACME")
    stripe, segment = Connector.STRIPE, Connector.SEGMENT
    made = [
        models.ConnectorSettings.objects.create(connector=stripe, secret=SECRET),
        models.ConnectorCall.objects.create(connector=segment, status_code=400, summary="bad call"),
        models.HeldCall.objects.create(connector=segment, message_id="m-1", kind="track", account_key="LATER",
                                       message={}, reason="unknown account"),
        models.ReceivedEvent.objects.create(connector=stripe, event_id="evt_1", kind="invoice.paid"),
        models.AccountRef.objects.create(connector=stripe, ref="cus_1", account=account),
        models.BillingSubscription.objects.create(
            connector=stripe, subscription_id="sub_1", customer_id="cus_1", account=account, status="active",
            currency="usd", mrr=Decimal(100), event_at=timezone.now()),
    ]
    return {type(row): row for row in made}


def test_every_connector_model_is_in_the_admin():
    assert set(apps.get_app_config("connectors").get_models()) == set(MODELS)
    assert all(model in admin.site._registry for model in MODELS)


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model._meta.model_name)
def test_an_operator_lists_and_opens_each_connector_model(operator, rows, model):
    base = f"/admin/connectors/{model._meta.model_name}/"

    listing = operator.get(base)
    opened = operator.get(f"{base}{rows[model].pk}/change/")

    assert listing.status_code == 200 and opened.status_code == 200
    assert SECRET not in listing.content.decode() + opened.content.decode()


@pytest.mark.parametrize("model", LOGS, ids=lambda model: model._meta.model_name)
def test_logs_and_settings_are_not_written_by_hand(operator, rows, model):
    base = f"/admin/connectors/{model._meta.model_name}/"

    assert operator.get(f"{base}add/").status_code == 403
    assert operator.post(f"{base}{rows[model].pk}/change/", {"summary": "forged"}).status_code == 403


def test_the_signing_secret_shows_masked(operator, rows):
    page = operator.get("/admin/connectors/connectorsettings/").content.decode()

    assert f"{SECRET[:6]}…{SECRET[-4:]}" in page


def test_linking_a_stripe_customer_by_hand_applies_the_events_held_for_it(operator):
    connector_configure(connector=Connector.STRIPE, secret=SECRET)
    account = AccountFactory(external_id="ACME")
    # The metadata names an account id that does not exist: held under that id, not the customer's.
    send(operator, stripe_event("customer.subscription.created", metadata={"external_id": "NO-SUCH"}))
    held = models.HeldCall.objects.get(connector=Connector.STRIPE)
    assert held.account_key == "NO-SUCH"

    response = operator.post("/admin/connectors/accountref/add/",
                             {"connector": "stripe", "ref": "cus_TBwExample00001", "account": account.pk})

    assert response.status_code == 302, response.content.decode()[:2000]
    assert not models.HeldCall.objects.exists()
    assert models.BillingSubscription.objects.get().account == account
