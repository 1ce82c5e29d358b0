"""Every task a worker knows has a queue: a new task nobody routed would land in the default queue and could
wait behind a big tenant's nightly run (or a nightly job could crowd the interactive queue)."""

from django.conf import settings

from config.celery import app


def registered_tasks() -> set[str]:
    """The product's tasks: Celery's own and those a test module defines for itself (tests.*) are not routed."""
    app.loader.import_default_modules()
    return {name for name in app.tasks if not name.startswith(("celery.", "tests."))}


def test_every_registered_task_is_routed_to_one_of_the_two_queues():
    routes = settings.CELERY_TASK_ROUTES
    queues = {queue.name for queue in settings.CELERY_TASK_QUEUES}

    assert queues == {"interactive", "bulk"}
    assert sorted(registered_tasks() - routes.keys()) == []
    assert {name: route["queue"] for name, route in routes.items() if route["queue"] not in queues} == {}
    assert sorted(routes.keys() - registered_tasks()) == []  # no route names a task that no longer exists


def test_the_breach_to_task_path_is_interactive_and_the_nightly_work_bulk():
    def queue(name: str) -> str:
        return app.amqp.router.route({}, name)["queue"].name

    for name in ("accounts.tasks.ingest_follow_up", "metrics.tasks.kpis_recompute_touched_accounts",
                 "notifications.tasks.webhook_deliver_task"):
        assert queue(name) == "interactive", name
    for name in ("metrics.tasks.kpis_compute_scheduled", "metrics.tasks.prediction_models_train",
                 "connectors.tasks.connector_logs_purge_task"):
        assert queue(name) == "bulk", name


def test_a_message_lands_in_its_own_queue_only():
    """Each queue has its own exchange and routing key; sharing the default's, a bulk message would also be
    copied into the interactive queue (and run twice)."""
    import redis

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    app.control.purge()
    try:
        app.send_task("metrics.tasks.kpis_compute_scheduled")
        app.send_task("accounts.tasks.ingest_follow_up", kwargs={"batch_id": 0})
        app.send_task("accounts.tasks.ingest_follow_up", kwargs={"batch_id": 1})

        assert (broker.llen("bulk"), broker.llen("interactive")) == (1, 2)
    finally:
        app.control.purge()
