"""Celery settings: Redis broker, JSON only, acks late so a killed worker's task runs again."""

from celery.schedules import crontab

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
