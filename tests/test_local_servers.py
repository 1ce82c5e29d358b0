"""One setting places each local server for everything: the ports that start the embedded PostgreSQL and Valkey
(and `make run`'s web server) also point the app at them (config/embedded.py), and the data folder remembers
them, so a `manage.py` command in another shell finds the servers `make run` started."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from config import embedded

ROOT = Path(__file__).resolve().parent.parent
# Variables that would place the servers by another route than the one under test.
PLACING = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "TEST_REDIS_URL", "EMBEDDED_PG_PORT",
           "EMBEDDED_REDIS_PORT", "PORT", "BELLWETHER_DATA_DIR", "DJANGO_SETTINGS_MODULE")
SHOW_SETTINGS = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'database_port': str(s.DATABASES['default']['PORT']), 'redis': s.REDIS_URL, "
    "'broker': s.CELERY_BROKER_URL, 'cache': s.CACHES['default']['LOCATION'], 'port': s.PORT}))"
)


def _clean_env(data_dir: Path, **env: str) -> dict[str, str]:
    clean = {name: value for name, value in os.environ.items() if name not in PLACING}
    return {**clean, "BELLWETHER_DATA_DIR": str(data_dir), **env}


def _settings(data_dir: Path, module: str = "config.settings.dev", **env: str) -> dict:
    result = subprocess.run([sys.executable, "-c", SHOW_SETTINGS], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, env=_clean_env(data_dir, DJANGO_SETTINGS_MODULE=module, **env))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _services(data_dir: Path, command: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "scripts/services.py", command], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=_clean_env(data_dir, **env))


def test_the_embedded_ports_move_the_app_with_the_servers(tmp_path):
    shown = _settings(tmp_path, EMBEDDED_PG_PORT="55432", EMBEDDED_REDIS_PORT="63800", PORT="8790")

    assert shown == {"database_port": "55432", "redis": "redis://127.0.0.1:63800/0",
                     "broker": "redis://127.0.0.1:63800/0", "cache": "redis://127.0.0.1:63800/0", "port": 8790}


def test_the_tests_redis_database_follows_the_embedded_port_too(tmp_path):
    shown = _settings(tmp_path, "config.settings.test", EMBEDDED_PG_PORT="55432", EMBEDDED_REDIS_PORT="63800")

    assert shown["database_port"] == "55432"
    assert shown["redis"] == shown["broker"] == shown["cache"] == "redis://127.0.0.1:63800/1"


def test_a_data_folder_remembers_its_ports_for_a_command_in_another_shell(tmp_path, monkeypatch):
    monkeypatch.setenv("BELLWETHER_DATA_DIR", str(tmp_path))
    embedded.record_ports(EMBEDDED_PG_PORT=55432, EMBEDDED_REDIS_PORT=63800)
    embedded.record_ports(PORT=8790)  # scripts/run.py adds the web's port to what services.py recorded

    shown = _settings(tmp_path)

    assert (shown["database_port"], shown["redis"], shown["port"]) == ("55432", "redis://127.0.0.1:63800/0", 8790)


def test_the_environment_wins_over_the_recorded_ports(tmp_path, monkeypatch):
    monkeypatch.setenv("BELLWETHER_DATA_DIR", str(tmp_path))
    embedded.record_ports(EMBEDDED_PG_PORT=55432, PORT=8790)

    shown = _settings(tmp_path, EMBEDDED_PG_PORT="55999", DATABASE_URL="postgres://x@db.internal:5432/bw")

    assert shown["database_port"] == "5432"  # an explicit DATABASE_URL wins over every port
    assert shown["port"] == 8790


def test_a_port_that_is_not_a_number_is_refused_by_name(tmp_path):
    result = subprocess.run([sys.executable, "-c", SHOW_SETTINGS], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, env=_clean_env(tmp_path, DJANGO_SETTINGS_MODULE="config.settings.dev",
                                                        EMBEDDED_PG_PORT="5432x"))

    assert result.returncode != 0
    assert "EMBEDDED_PG_PORT must be a port number from 1 to 65535, not '5432x'" in result.stderr


def test_services_status_reports_the_ports_the_data_folder_recorded(tmp_path, monkeypatch):
    monkeypatch.setenv("BELLWETHER_DATA_DIR", str(tmp_path))
    embedded.record_ports(EMBEDDED_PG_PORT=55432, EMBEDDED_REDIS_PORT=63800)

    result = _services(tmp_path, "status")

    assert result.returncode == 0, result.stderr
    assert "127.0.0.1:55432" in result.stdout
    assert "127.0.0.1:63800" in result.stdout


@pytest.fixture
def foreign_listeners():
    """Two ports something else listens on: another project's servers, as far as services.py can tell."""
    sockets = []
    for _ in range(2):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        sockets.append(sock)
    yield [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()


def test_services_refuse_a_port_another_server_holds_instead_of_using_it(tmp_path, foreign_listeners):
    pg_port, redis_port = foreign_listeners

    result = _services(tmp_path, "start", EMBEDDED_PG_PORT=str(pg_port), EMBEDDED_REDIS_PORT=str(redis_port))

    assert result.returncode != 0
    assert f"127.0.0.1:{pg_port} is in use, but not by the server of {tmp_path}" in result.stderr
    assert "EMBEDDED_PG_PORT=<port>" in result.stderr
    assert not (tmp_path / "postgres").exists()
    assert not (tmp_path / embedded.PORTS_FILE).exists()  # nothing recorded: the app must not follow it there
