"""Metrics reacts to the rest of the product: a new tenant gets the default catalogue; fresh customer data
recomputes the accounts it touched."""

from django.db import connection
from django.dispatch import receiver

from accounts.signals import customer_data_changed
from metrics.catalogue import catalogue_install
from metrics.pending import DEBOUNCE_SECONDS, pending_accounts_add
from tenants.signals import tenant_created


@receiver(tenant_created)
def install_default_catalogue(sender, *, tenant, admin, **kwargs) -> None:
    catalogue_install(owner=admin)


@receiver(customer_data_changed)
def recompute_touched_accounts(sender, *, account_ids: list[int], **kwargs) -> None:
    """Fresh data: recompute the accounts it touched, debounced so a stream of batches costs one run."""
    from metrics.tasks import kpis_recompute_touched_accounts

    if pending_accounts_add(schema=connection.schema_name, account_ids=account_ids):
        kpis_recompute_touched_accounts.apply_async(countdown=DEBOUNCE_SECONDS)


@receiver(customer_data_changed)
def score_new_survey_comments(sender, *, kind: str, **kwargs) -> None:
    """New survey answers: score their comments' sentiment (only the ones not scored yet)."""
    from integrations.models import DataKind
    from metrics.sentiment import survey_sentiment_refresh

    if kind == DataKind.SURVEYS:
        survey_sentiment_refresh()
