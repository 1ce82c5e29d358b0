"""The real stack for tests that cross process boundaries: a connection that commits for real (outside
the test's transaction) and a real Celery worker process on the test broker and database."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def raw_connection() -> psycopg.Connection:
    """A connection of its own, outside the test's transaction, so what it writes is really committed."""
    db = connection.settings_dict
    return psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"] or None,
                           dbname=db["NAME"], autocommit=True)


def worker_env() -> dict[str, str]:
    """The environment of a process that must use the test database and broker (a worker, a script)."""
    db = connection.settings_dict
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "TEST_REDIS_URL": settings.CELERY_BROKER_URL}


def process(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    """A `python -m` process whose output goes to a file: a pipe nobody reads fills up and blocks the
    process in its logging (a gunicorn worker logging errors during an outage would hang on it)."""
    log = tempfile.NamedTemporaryFile(prefix="bellwether-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    proc.log_path = Path(log.name)
    return proc


def stop(proc: subprocess.Popen) -> str:
    """Stop the process; returns what it printed."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if not proc.log_path.exists():  # stopped already
        return ""
    output = proc.log_path.read_text(errors="replace")
    proc.log_path.unlink()
    return output


QUEUES = ",".join(queue.name for queue in settings.CELERY_TASK_QUEUES)


def worker_start(*, pool: str = "solo", concurrency: int = 1, env: dict[str, str] | None = None) -> subprocess.Popen:
    """A Celery worker on the test database and broker, consuming both queues (interactive and bulk), with
    them purged first."""
    from config.celery import app

    app.control.purge()
    return process(["celery", "-A", "config", "worker", "--pool", pool, "--concurrency", str(concurrency),
                    "--queues", QUEUES, "--loglevel", "WARNING"], env or worker_env())


def committed(code: str, env: dict[str, str] | None = None) -> str:
    """Run Django code in a process of its own, so what it writes is committed for real; returns its output."""
    done = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env or worker_env(),
                          capture_output=True, text=True, timeout=300)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return done.stdout


@pytest.fixture
def celery_worker_process() -> Iterator[subprocess.Popen]:
    """A Celery worker (solo pool) on the test database and broker."""
    worker = worker_start()
    yield worker
    stop(worker)
