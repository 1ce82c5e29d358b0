"""Celery settings: Redis broker, JSON only, acks late so a killed worker's task runs again."""

from celery.schedules import crontab
from kombu import Exchange, Queue

from config import embedded

from .environment import env

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=env("REDIS_URL", default=embedded.redis_url()))
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# A request that enqueues work must not hang on a broker that is down: retry briefly, then give up
# (the periodic sweeps pick the work up again).
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
CELERY_BROKER_CONNECTION_TIMEOUT = 2

# Two queues, so a big tenant's nightly work never stands between a small tenant's data and its CSM's task.
# "interactive": what someone is waiting for (the ingest follow-up, the debounced recompute that turns a
# breach into a task, webhook deliveries, held connector calls). "bulk": the long, scheduled or backfilling
# work (nightly computation, on-demand and resumed runs, training, digests, sweeps, purges). Run at least one
# worker per queue in production (docs/deployment.md); `make run` and the tests run one consuming both.
# Every task is named here: tests/test_queues.py fails on a task no route names.
INTERACTIVE_QUEUE = "interactive"
BULK_QUEUE = "bulk"
# Each queue its own exchange and key: a Queue without them shares the default queue's, and would receive its
# messages too.
CELERY_TASK_QUEUES = tuple(Queue(name, Exchange(name), routing_key=name) for name in (INTERACTIVE_QUEUE, BULK_QUEUE))
CELERY_TASK_DEFAULT_QUEUE = BULK_QUEUE
INTERACTIVE_TASKS = (
    "accounts.tasks.ingest_follow_up",
    "accounts.tasks.ingest_follow_ups_due",
    "accounts.tasks.ingest_follow_ups_due_all_tenants",
    "metrics.tasks.kpis_recompute_touched_accounts",
    "notifications.tasks.webhook_deliver_task",
    "notifications.tasks.webhook_deliveries_sweep_task",
    "notifications.tasks.webhook_deliveries_sweep_all_tenants",
    "connectors.tasks.held_calls_replay_task",
    "playbooks.tasks.tasks_escalate_task",
    "playbooks.tasks.tasks_escalate_all_tenants",
)
BULK_TASKS = (
    "accounts.tasks.usage_rollups_refresh_recent",
    "accounts.tasks.usage_rollups_refresh_all_tenants",
    "metrics.tasks.computation_run_task",
    # The segments and portfolio of a median after incremental runs: every account's stored row read again.
    "metrics.tasks.aggregates_refresh_task",
    "metrics.tasks.computation_runs_stale_resume",
    "metrics.tasks.computation_runs_stale_resume_all_tenants",
    "metrics.tasks.kpis_compute_scheduled",
    "metrics.tasks.kpis_compute_scheduled_all_tenants",
    "metrics.tasks.prediction_models_train",
    "metrics.tasks.prediction_models_train_all_tenants",
    "reviews.tasks.decisions_follow_up_task",
    "reviews.tasks.decisions_follow_up_all_tenants",
    "notifications.tasks.webhook_deliveries_purge_task",
    "notifications.tasks.webhook_deliveries_purge_all_tenants",
    "integrations.tasks.stale_feeds_check",
    "integrations.tasks.stale_feeds_check_all_tenants",
    "integrations.tasks.idempotent_requests_purge_task",
    "integrations.tasks.idempotent_requests_purge_all_tenants",
    "playbooks.tasks.renewal_runs_start_task",
    "playbooks.tasks.renewal_runs_start_all_tenants",
    "playbooks.tasks.digests_send_task",
    "playbooks.tasks.digests_send_all_tenants",
    "connectors.tasks.connector_logs_purge_task",
    "connectors.tasks.connector_logs_purge_all_tenants",
    # A large CSV file's import (a minute for 100,000 rows) and the sweeper that sends a lost one again.
    "integrations.tasks.csv_import_task",
    "integrations.tasks.csv_imports_resend_task",
    "integrations.tasks.csv_imports_resend_all_tenants",
    # The comments of a large survey batch past its first claim, scored a claim at a time.
    "metrics.tasks.survey_comments_score_task",
)
CELERY_TASK_ROUTES = {
    **{name: {"queue": INTERACTIVE_QUEUE} for name in INTERACTIVE_TASKS},
    **{name: {"queue": BULK_QUEUE} for name in BULK_TASKS},
}
CELERY_BEAT_SCHEDULE = {
    "follow-up-decisions": {"task": "reviews.tasks.decisions_follow_up_all_tenants", "schedule": crontab(minute=20)},
    "refresh-usage-rollups": {
        # Fans out one task per tenant; each refreshes the days that received events recently.
        "task": "accounts.tasks.usage_rollups_refresh_all_tenants",
        "schedule": crontab(minute="*/15"),
    },
    "follow-up-ingested-batches": {
        # Batches whose follow-up message was lost (broker down, worker killed): the outbox sweeper.
        "task": "accounts.tasks.ingest_follow_ups_due_all_tenants",
        "schedule": crontab(minute="*"),
    },
    "resend-unfinished-csv-imports": {
        # CSV imports whose message was lost or whose worker died; a copy of a running one returns at once.
        "task": "integrations.tasks.csv_imports_resend_all_tenants",
        "schedule": crontab(minute="*"),
    },
    "resume-stale-computations": {
        "task": "metrics.tasks.computation_runs_stale_resume_all_tenants",
        "schedule": crontab(minute="*/10"),
    },
    "compute-kpis": {
        # Yesterday's values of the KPIs due at their cadence, for every tenant, early in the morning (UTC).
        "task": "metrics.tasks.kpis_compute_scheduled_all_tenants",
        "schedule": crontab(hour=2, minute=0),
    },
    "train-prediction-models": {
        # A new version of each tenant's predictive models every week, before that night's computation uses it.
        "task": "metrics.tasks.prediction_models_train_all_tenants",
        "schedule": crontab(hour=1, minute=15, day_of_week=0),
    },
    "escalate-overdue-tasks": {
        "task": "playbooks.tasks.tasks_escalate_all_tenants",
        "schedule": crontab(minute="*/10"),
    },
    "start-renewal-playbooks": {
        "task": "playbooks.tasks.renewal_runs_start_all_tenants",
        "schedule": crontab(hour=6, minute=0),
    },
    "check-stale-feeds": {
        "task": "integrations.tasks.stale_feeds_check_all_tenants",
        "schedule": crontab(minute=5),
    },
    "send-due-webhook-deliveries": {
        # Deliveries whose message a broker outage dropped, or whose worker died mid-attempt.
        "task": "notifications.tasks.webhook_deliveries_sweep_all_tenants",
        "schedule": crontab(minute="*"),
    },
    "purge-old-webhook-deliveries": {
        "task": "notifications.tasks.webhook_deliveries_purge_all_tenants",
        "schedule": crontab(hour=3, minute=45),
    },
    "send-daily-digests": {
        # Hourly: each tenant sends its users' digest once, at the digest hour of its own time zone.
        "task": "playbooks.tasks.digests_send_all_tenants",
        "schedule": crontab(minute=0),
    },
    "purge-idempotent-requests": {
        "task": "integrations.tasks.idempotent_requests_purge_all_tenants",
        "schedule": crontab(hour=3, minute=30),
    },
    "purge-connector-logs": {
        # The connectors' call logs and applied vendor event ids past their retention (30 days).
        "task": "connectors.tasks.connector_logs_purge_all_tenants",
        "schedule": crontab(hour=3, minute=50),
    },
}
