"""Metrics reacts to the rest of the product: a new tenant gets the default catalogue and alert rules; fresh
customer data recomputes the accounts it touched."""

from collections.abc import Sequence

from django.db import connection, transaction
from django.dispatch import receiver

from accounts.signals import customer_data_changed
from metrics.catalogue import catalogue_install, default_rules_install
from metrics.pending import (
    DEBOUNCE_SECONDS,
    REAGGREGATION_DEBOUNCE_SECONDS,
    pending_accounts_add,
    pending_reaggregations_add,
)
from metrics.signals import aggregates_deferred
from tenants.signals import tenant_created
from tenants.tasks import on_commit_in_tenant


@receiver(tenant_created)
def install_default_catalogue(sender, *, tenant, admin, **kwargs) -> None:
    catalogue_install(owner=admin)
    default_rules_install(owner=admin)


@receiver(customer_data_changed)
def recompute_touched_accounts(sender, *, account_ids: list[int], **kwargs) -> None:
    """Fresh data: recompute the accounts it touched, debounced so a stream of batches costs one run."""
    from metrics.tasks import kpis_recompute_touched_accounts

    if pending_accounts_add(schema=connection.schema_name, account_ids=account_ids):
        kpis_recompute_touched_accounts.apply_async(countdown=DEBOUNCE_SECONDS)


@receiver(aggregates_deferred)
def refresh_deferred_aggregates(sender, *, as_of, kpi_ids: list[int], **kwargs) -> None:
    """An incremental run left aggregates that read every account: the bulk queue re-aggregates them, debounced
    so a stream of runs costs one re-aggregation; after commit, so a run rolled back schedules nothing."""
    from metrics.tasks import aggregates_refresh_task

    schema = connection.schema_name

    def schedule() -> None:
        if pending_reaggregations_add(schema=schema, as_of=as_of, kpi_ids=kpi_ids):
            aggregates_refresh_task.apply_async(countdown=REAGGREGATION_DEBOUNCE_SECONDS)

    on_commit_in_tenant(schedule)


@receiver(customer_data_changed)
def score_new_survey_comments(sender, *, kind: str, created_ids: Sequence[int] = (), **kwargs) -> None:
    """New survey answers: score the comments of exactly the answers this batch created. The first claim is
    scored now; the rest in tasks that queue behind the work already waiting, other tenants' included, so one
    large batch cannot hold the shared workers."""
    from integrations.models import DataKind
    from metrics.sentiment import CLAIM_SIZE, survey_comments_score
    from metrics.tasks import survey_comments_score_task

    if kind == DataKind.SURVEYS and created_ids and survey_comments_score(response_ids=created_ids) == CLAIM_SIZE:
        transaction.on_commit(lambda: survey_comments_score_task.delay(response_ids=list(created_ids)), robust=True)
