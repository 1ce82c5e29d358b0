"""Tenant bravo's objects for isolation tests, and the registry that fills every route's path parameters with them.

Registering is one line:
- a new model that the Django admin shows: add its factory to `OBJECTS` under its label (`"app.model"`);
- a new route with a path parameter: add `"route-name": "app.model.attribute"` to `PARAMS` (a dict of
  kwarg -> reference when the route has several parameters), or, for a kwarg that means the same object on
  every route, `"kwarg": "app.model.attribute"` to `KWARGS`;
- a write whose input is validated before its object is looked up: add a valid body to `WRITE_BODIES`, so the
  request reaches the lookup that the test is about.
Every bravo object carries `MARK` where it has a text field, so a response that shows bravo's data is caught.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import Model
from django.utils import timezone
from django_tenants.utils import schema_context

from core.api.scopes import Scope
from integrations.models import DataKind, FeedPolicy
from metrics.models import AlertRule, Breach, ComputationRun, MetricValue, PredictionModel
from playbooks.models import Playbook, PlaybookStep
from playbooks.services import playbook_run_start
from tests.accounts.factories import (
    AccountFactory,
    RevenueSnapshotFactory,
    SupportTicketFactory,
    SurveyResponseFactory,
    UsageDailyFactory,
    UsageEventFactory,
    UserDailyFactory,
)
from tests.hardening.routes import Route
from tests.integrations.factories import ApiKeyFactory, IngestBatchFactory
from tests.metrics.factories import KPIFactory
from tests.users.factories import UserFactory
from users.models import Role

MARK = "BRAVO-SECRET"
# Bravo's ids start here so that none of them names a row of alpha's by coincidence (ids are per schema).
FIRST_ID = 1_000_000
DAY = dt.date(2026, 11, 1)


class Literal(str):
    """A parameter value that is not an object id (an app label, a free path): used as it is."""


class World:
    """Bravo's objects, created on first use in bravo's schema; `world["app.model"]` is one instance."""

    def __init__(self, schema_name: str) -> None:
        self.schema_name = schema_name
        self._objects: dict[str, Model] = {}

    def __getitem__(self, label: str) -> Model:
        if label not in self._objects:
            if label not in OBJECTS:
                raise LookupError(f"No bravo object is registered for {label!r}: add a factory to "
                                  f"OBJECTS in tests/hardening/bravo.py.")
            with schema_context(self.schema_name):
                self._objects[label] = OBJECTS[label](self)
        return self._objects[label]

    def build_all(self) -> None:
        """Every registered object, so list pages and endpoints have bravo rows they must not show."""
        for label in OBJECTS:
            self[label]

    def value(self, reference: str) -> str:
        """`"app.model.attribute"` -> that attribute of bravo's object, as a URL segment."""
        if isinstance(reference, Literal):
            return reference
        label, attribute = reference.rsplit(".", 1)
        return str(getattr(self[label], attribute))

    def snapshot(self) -> dict[str, str | None]:
        """Bravo's state as data, read in one query: each object's row and each tenant table's row count, to
        compare after requests that must not have written anything there."""
        quote = connection.ops.quote_name
        parts, params = [], []
        for label, obj in self._objects.items():
            meta = obj._meta
            parts.append(f"SELECT %s, (SELECT row_to_json(t)::text FROM {quote(meta.db_table)} t "
                         f"WHERE t.{quote(meta.pk.column)} = %s)")
            params += [f"row:{label}", obj.pk]
        for model in _tenant_models():
            parts.append(f"SELECT %s, (SELECT count(*)::text FROM {quote(model._meta.db_table)})")
            params.append(f"count:{model._meta.label}")
        with schema_context(self.schema_name), connection.cursor() as cursor:
            cursor.execute(" UNION ALL ".join(parts), params)
            return dict(cursor.fetchall())


def _tenant_models() -> list[type[Model]]:
    from django.conf import settings

    tenant_apps = {app.rsplit(".", 1)[-1] for app in settings.TENANT_APPS} - {"contenttypes", "sessions"}
    return [model for model in apps.get_models() if model._meta.app_label in tenant_apps
            and not model._meta.proxy and model._meta.managed]


def ids_start_high(schema_name: str) -> None:
    """Move bravo's id sequences past anything alpha has, so a bravo id never names an alpha row.

    Sequences are not transactional: this outlives the test, harmlessly (ids only grow).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(format('%%I.%%I', schemaname, sequencename)::regclass, %s) FROM pg_sequences "
            "WHERE schemaname = %s AND coalesce(last_value, 0) < %s", [FIRST_ID, schema_name, FIRST_ID])


def _create(label: str, **fields) -> Model:
    """A row of a model looked up by label, so the registry does not import apps whose modules move."""
    return apps.get_model(label).objects.create(**fields)


def _task(world: World) -> Model:
    playbook = world["playbooks.playbook"]
    run = playbook_run_start(playbook=playbook, account=world["accounts.account"])
    return run.tasks.get()


def _breach(world: World) -> Model:
    now = timezone.now()
    rule = world["metrics.alertrule"]
    return Breach.objects.create(rule=rule, kpi=rule.kpi, scope="account", account=world["accounts.account"],
                                 severity="critical", opened_at=now, opened_as_of=DAY, value_at_open=-50,
                                 threshold=0, respond_by=now + dt.timedelta(hours=4))


def _playbook(world: World) -> Model:
    playbook = Playbook.objects.create(name=f"{MARK} playbook", description=MARK)
    PlaybookStep.objects.create(playbook=playbook, position=1, title=f"{MARK} call", due_days=1,
                                assignee=world["users.user"], assignee_rule="named_user")
    return playbook


def _experiment(world: World) -> Model:
    now = timezone.now()
    return _create("playbooks.Experiment", name=f"{MARK} experiment", hypothesis=MARK,
                   playbook=world["playbooks.playbook"], metric="churn", test="proportions", baseline=20,
                   minimum_effect=-5, accounts_per_week=10, status="running", started_at=now,
                   planned_end=DAY + dt.timedelta(days=120), decision_note=MARK)


# label -> factory of bravo's instance; the admin's object routes need one for every model it registers.
OBJECTS: dict[str, Callable[[World], Model]] = {
    "users.user": lambda w: UserFactory(email="bravo-secret@bravo.example", full_name=f"{MARK} Owner",
                                        role=Role.ADMIN),
    "auth.group": lambda w: Group.objects.create(name=f"{MARK} group"),
    "contenttypes.contenttype": lambda w: ContentType.objects.get(app_label="accounts", model="account"),
    "accounts.account": lambda w: AccountFactory(name=f"{MARK} Customer", external_id=f"{MARK}-1",
                                                 owner=w["users.user"]),
    "accounts.usageevent": lambda w: UsageEventFactory(account=w["accounts.account"], event_name=f"{MARK}-event"),
    "accounts.usagedaily": lambda w: UsageDailyFactory(account=w["accounts.account"], event_name=f"{MARK}-event"),
    "accounts.userdaily": lambda w: UserDailyFactory(account=w["accounts.account"], user_id=f"{MARK}-user"),
    "accounts.revenuesnapshot": lambda w: RevenueSnapshotFactory(account=w["accounts.account"]),
    "accounts.surveyresponse": lambda w: SurveyResponseFactory(account=w["accounts.account"], comment=MARK),
    "accounts.supportticket": lambda w: SupportTicketFactory(account=w["accounts.account"], subject=MARK),
    "integrations.apikey": lambda w: ApiKeyFactory(name=f"{MARK} CRM", scopes=[Scope.ADMIN]).api_key,
    "integrations.ingestbatch": lambda w: IngestBatchFactory(),
    "integrations.feedpolicy": lambda w: FeedPolicy.objects.get_or_create(kind=DataKind.TICKETS)[0],
    "integrations.csvimport": lambda w: _create("integrations.CsvImport", kind=DataKind.ACCOUNTS, file_name=MARK,
                                                file_bytes=100, rows=20_000, detail=MARK,
                                                errors=[{"row": 2, "field": None, "message": MARK}]),
    "metrics.kpi": lambda w: KPIFactory(slug="bravo-secret-kpi", name=f"{MARK} KPI", definition=MARK),
    "metrics.computationrun": lambda w: ComputationRun.objects.create(trigger="manual", as_of=DAY,
                                                                     kpi_slugs=["bravo-secret-kpi"]),
    "metrics.metricvalue": lambda w: MetricValue.objects.create(kpi=w["metrics.kpi"], kpi_version=1, scope="account",
                                                               account=w["accounts.account"], as_of=DAY, value=-50),
    "metrics.alertrule": lambda w: AlertRule.objects.create(kpi=w["metrics.kpi"], name=f"{MARK} rule",
                                                            condition="below", threshold=0, severity="critical"),
    "metrics.breach": _breach,
    "metrics.predictionmodel": lambda w: PredictionModel.objects.create(
        target="renewal", spec_key="bravo", spec={"target": "renewal"}, version=1, cutoff=DAY, status="insufficient",
        reason=MARK, trigger="manual", kpi_slug="bravo-secret-kpi"),
    "playbooks.playbook": _playbook,
    "playbooks.playbookrun": lambda w: w["playbooks.task"].run,
    "playbooks.task": _task,
    "playbooks.experiment": _experiment,
    "playbooks.experimentassignment": lambda w: _create(
        "playbooks.ExperimentAssignment", experiment=w["playbooks.experiment"], account=w["accounts.account"],
        arm="holdout", stratum=MARK, assigned_at=timezone.now(), entered_on=DAY),
    "reviews.review": lambda w: _create("reviews.Review", quarter="2026-Q4", name=f"{MARK} review"),
    "reviews.scenario": lambda w: _create(
        "reviews.Scenario", name=f"{MARK} scenario", notes=MARK, review=w["reviews.review"], grr=90, expansion=10,
        logo_churn=8, activation_rate=80, new_arr=1000, cost_to_serve=100,
        baseline={"arr": 1000.0, "accounts": 1, "tickets_per_account": 1.0, "handling_hours_per_ticket": 1.0,
                  "accounts_per_csm": 1.0, "as_of": MARK, "sources": {}},
        trajectory={"grr": 90, "expansion": 10, "logo_churn": 8, "activation_rate": 80, "new_arr": 1000,
                    "cost_to_serve": 100, "ticket_growth": 0}),
    "reviews.reviewkpi": lambda w: _create("reviews.ReviewKPI", review=w["reviews.review"], kpi=w["metrics.kpi"],
                                           status="no_target", commentary=MARK),
    "reviews.decision": lambda w: _create("reviews.Decision", review=w["reviews.review"], kind="other", text=MARK,
                                          owner=w["users.user"], deadline=DAY),
    "connectors.connectorsettings": lambda w: _create("connectors.ConnectorSettings", connector="stripe",
                                                      secret=f"whsec_{MARK}", options={"metadata_key": MARK}),
    "connectors.connectorcall": lambda w: _create("connectors.ConnectorCall", connector="segment", status_code=200,
                                                  summary=MARK),
    "connectors.heldcall": lambda w: _create("connectors.HeldCall", connector="segment", message_id=MARK,
                                             kind="track", account_key=MARK, message={"note": MARK}, reason=MARK),
    "connectors.receivedevent": lambda w: _create("connectors.ReceivedEvent", connector="stripe", event_id=MARK,
                                                  kind="invoice.paid"),
    "connectors.accountref": lambda w: _create("connectors.AccountRef", connector="stripe", ref=MARK,
                                               account=w["accounts.account"]),
    "connectors.billingsubscription": lambda w: _create(
        "connectors.BillingSubscription", connector="stripe", subscription_id=MARK, customer_id=MARK,
        account=w["accounts.account"], status="active", currency="usd", mrr=100, event_at=timezone.now()),
    "notifications.webhook": lambda w: _create("notifications.Webhook", name=f"{MARK} hook", secret=MARK,
                                               url="https://hooks.bravo.example/in", events=["breach.opened"]),
    "notifications.webhookdelivery": lambda w: _create(
        "notifications.WebhookDelivery", webhook=w["notifications.webhook"], event="ping", payload={"note": MARK},
        next_attempt_at=timezone.now() + dt.timedelta(days=1)),
}


# route key -> reference (one parameter) or {kwarg: reference}; see the module docstring.
PARAMS: dict[str, str | dict[str, str]] = {
    "api-account": "accounts.account.pk",
    "api-account-events": "accounts.account.pk",
    "api-account-revenue": "accounts.account.pk",
    "api-account-surveys": "accounts.account.pk",
    "api-account-tickets": "accounts.account.pk",
    "api-key-revoke": "integrations.apikey.pk",
    "api-csv-import": "integrations.csvimport.pk",
    "api-kpi": "metrics.kpi.slug",
    "api-kpi-values": "metrics.kpi.slug",
    "api-kpi-explain": "metrics.kpi.slug",
    "api-kpi-targets": "metrics.kpi.slug",
    "api-kpi-versions": "metrics.kpi.slug",
    "api-kpi-annotations": "metrics.kpi.slug",
    "api-playbook": "playbooks.playbook.pk",
    "api-playbook-effectiveness": "playbooks.playbook.pk",
    "api-metrics-run": "metrics.computationrun.pk",
    "api-experiment": "playbooks.experiment.pk",
    "api-experiment-start": "playbooks.experiment.pk",
    "api-experiment-conclude": "playbooks.experiment.pk",
    "api-experiment-assignments": "playbooks.experiment.pk",
    "experiment_detail": "playbooks.experiment.pk",
    "experiment_edit": "playbooks.experiment.pk",
    "experiment_start": "playbooks.experiment.pk",
    "experiment_conclude": "playbooks.experiment.pk",
    "api-prediction-model": "metrics.predictionmodel.pk",
    "api-kpi-renewal-by-quartile": "metrics.kpi.slug",
    "api-alert-rule": "metrics.alertrule.pk",
    "api-breach-acknowledge": "metrics.breach.pk",
    "api-task-action": "playbooks.task.pk",
    "api-review": "reviews.review.pk",
    "api-review-start": "reviews.review.pk",
    "api-review-close": "reviews.review.pk",
    "api-review-kpi": {"pk": "reviews.review.pk", "row": "reviews.reviewkpi.pk"},
    "api-decision": "reviews.decision.pk",
    "api-decision-updates": "reviews.decision.pk",
    "api-scenario": "reviews.scenario.pk",
    "scenario_detail": "reviews.scenario.pk",
    "scenario_delete": "reviews.scenario.pk",
    "api-webhook": "notifications.webhook.pk",
    "api-webhook-rotate": "notifications.webhook.pk",
    "api-webhook-ping": "notifications.webhook.pk",
    "api-webhook-deliveries": "notifications.webhook.pk",
    "api-webhook-delivery-redeliver": "notifications.webhookdelivery.pk",
    "account_detail": "accounts.account.pk",
    "account_kpi": {"pk": "accounts.account.pk", "slug": "metrics.kpi.slug"},
    "settings_alert_rule_edit": "metrics.alertrule.pk",
    "settings_kpi_edit": "metrics.kpi.slug",
    "api_key_revoke": "integrations.apikey.pk",
    "csv_import_detail": "integrations.csvimport.pk",
    "kpi_detail": "metrics.kpi.slug",
    "breach_acknowledge": "metrics.breach.pk",
    "task_detail": "playbooks.task.pk",
    "task_act": "playbooks.task.pk",
    "settings_user_edit": "users.user.pk",
    "settings_user_deactivate": "users.user.pk",
    "settings_user_reactivate": "users.user.pk",
    "playbook_detail": "playbooks.playbook.pk",
    "playbook_edit": "playbooks.playbook.pk",
    "review_detail": "reviews.review.pk",
    "review_edit": "reviews.review.pk",
    "review_start": "reviews.review.pk",
    "review_close": "reviews.review.pk",
    "review_print": "reviews.review.pk",
    "review_pdf": "reviews.review.pk",
    "review_decisions_csv": "reviews.review.pk",
    "review_kpi_commentary": {"pk": "reviews.review.pk", "row": "reviews.reviewkpi.pk"},
    "decision_create": "reviews.review.pk",
    "decision_edit": "reviews.decision.pk",
    "webhook_detail": "notifications.webhook.pk",
    "webhook_action": {"pk": "notifications.webhook.pk", "action": Literal("rotate")},
    "webhook_delivery_redeliver": "notifications.webhookdelivery.pk",
    "connector_detail": {"connector": Literal("segment")},
    "connector_secret": {"connector": Literal("stripe")},
    "crm_import": {"connector": Literal("hubspot")},
    "admin:view_on_site": {"content_type_id": "contenttypes.contenttype.pk", "object_id": "accounts.account.pk"},
    "admin:app_list": {"app_label": Literal("accounts")},
    "admin/(?P<url>.*)$": {"url": Literal("accounts/account/unknown/")},
}
# kwarg -> reference, for kwargs that name the same kind of object wherever they appear.
KWARGS: dict[str, str] = {
    "account_id": "accounts.account.pk",
}
# (route key, method) -> a valid body, for writes that validate their input before looking up their object.
WRITE_BODIES: dict[tuple[str, str], dict] = {
    ("api-kpi-targets", "POST"): {"period": "2026-Q4", "value": 40, "reason": "Board goal"},
}


def _admin_object(route: Route) -> str | None:
    """`admin/<app>/<model>/<path:object_id>/...` -> `"app.model.pk"` for any model the admin registers."""
    for model in admin.site._registry:
        if route.pattern.startswith(f"admin/{model._meta.app_label}/{model._meta.model_name}/"):
            return f"{model._meta.label_lower}.pk"
    return None


def references(route: Route) -> dict[str, str]:
    """How to fill each of the route's parameters; raises with what to register when one is unknown."""
    registered = PARAMS.get(route.key)
    if isinstance(registered, str) and len(route.kwargs) == 1:
        registered = {route.kwargs[0]: registered}
    found = dict(registered or {})
    for kwarg in route.kwargs:
        if kwarg in found:
            continue
        if kwarg in KWARGS:
            found[kwarg] = KWARGS[kwarg]
        elif kwarg == "object_id" and route.is_admin and _admin_object(route):
            found[kwarg] = _admin_object(route)
        else:
            raise LookupError(
                f"Route {route.key!r} ({route.pattern}) has a parameter {kwarg!r} the isolation matrix cannot fill: "
                f"register it in tests/hardening/bravo.py, e.g. PARAMS[{route.key!r}] = \"app.model.pk\", and add "
                f"a factory to OBJECTS if the model has none.")
    for reference in found.values():
        label = reference.rsplit(".", 1)[0]
        if not isinstance(reference, Literal) and label not in OBJECTS:
            raise LookupError(f"Route {route.key!r} needs a bravo {label!r}: add a factory to OBJECTS in "
                              f"tests/hardening/bravo.py.")
    return found
