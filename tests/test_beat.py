"""Every periodic job beat sends names a task a worker knows: a renamed task must not silently stop a job."""

from django.conf import settings

from config.celery import app


def test_every_beat_entry_names_a_registered_task():
    app.loader.import_default_modules()

    entries = {name: entry["task"] for name, entry in settings.CELERY_BEAT_SCHEDULE.items()}

    assert len(entries) >= 10
    assert {name: task for name, task in entries.items() if task not in app.tasks} == {}
