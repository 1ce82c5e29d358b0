"""Each connector's options as the tenant set them, over defaults that fit the common case."""

from __future__ import annotations

from copy import deepcopy

from connectors.models import Connector, ConnectorSettings

# Bellwether's account field -> the group trait that carries it. A blank trait name leaves the field alone.
SEGMENT_ACCOUNT_TRAITS = {
    "name": "name", "plan": "plan", "industry": "industry", "region": "region", "seats": "seats",
    "owner": "owner_email", "renewal_date": "renewal_date", "mrr": "mrr",
}

DEFAULTS: dict[str, dict] = {
    Connector.SEGMENT: {
        "account_traits": SEGMENT_ACCOUNT_TRAITS,
        # Where a call names its account when `context.groupId` does not: an identify trait, a track property.
        "user_account_trait": "groupId",
        "event_account_property": "groupId",
    },
    Connector.STRIPE: {
        # The subscription (or customer) metadata key that holds the account's external id.
        "metadata_key": "external_id",
        # The tenant's one revenue currency; blank until the first event, whose currency is adopted.
        "currency": "",
    },
    Connector.INTERCOM: {
        # The conversation attribute that names the account, when its contact is no user the tracking API knows.
        "account_attribute": "account_id",
    },
}


def connector_settings(connector: str) -> ConnectorSettings:
    """The connector's row (unsaved and empty when never configured)."""
    return ConnectorSettings.objects.filter(connector=connector).first() or ConnectorSettings(connector=connector)


def connector_options(connector: str, stored: dict | None = None) -> dict:
    """The connector's options: the defaults, with what the tenant stored over them (nested dicts merged)."""
    options = deepcopy(DEFAULTS.get(connector, {}))
    stored = connector_settings(connector).options if stored is None else stored
    for name, value in (stored or {}).items():
        if isinstance(value, dict) and isinstance(options.get(name), dict):
            options[name] = options[name] | value
        else:
            options[name] = value
    return options
