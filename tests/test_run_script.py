"""`make run`'s supervisor (scripts/run.py): a console that ends its startup with the address and the logins,
development settings that say so and stay on 127.0.0.1, and a shutdown in order that Ctrl-C cannot turn into
killed workers (the servers run in a session of their own; the supervisor stops them one group at a time)."""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def run():
    spec = importlib.util.spec_from_file_location("bellwether_run", ROOT / "scripts" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_startup_ends_with_the_address_and_the_logins(run):
    lines = run.banner(not_ready=[]).splitlines()

    address = lines.index(f"Bellwether is running: http://acme.{run.BASE_DOMAIN}:{run.PORT}/")
    assert lines[address + 1] == "  Demo logins, password 'bellwether-demo':"
    assert [line.split()[0] for line in lines[address + 2:]] == [email for email, _ in run.DEMO_LOGINS]


def test_the_development_server_says_what_it_is_and_where_to_go_instead(run):
    text = run.banner(not_ready=[], settings_module="config.settings.dev")

    assert "DEVELOPMENT SERVER" in text and "fixed development secret key" in text
    assert "127.0.0.1 only" in text and "docs/deployment.md" in text
    assert (ROOT / "docs" / "deployment.md").exists()


def test_the_web_server_listens_on_loopback_only(run):
    web = run.processes()["web"].command

    assert web[web.index("--bind") + 1] == f"127.0.0.1:{run.PORT}"


def test_the_console_shows_celery_warnings_and_their_tracebacks_but_not_its_chatter(run):
    console = run.CeleryConsole()
    lines = [
        " -------------- celery@host v5.5.3 (immunity)",
        "[2026-11-22 09:30:00,123: INFO/MainProcess] Connected to redis://127.0.0.1:63799/0",
        "[2026-11-22 09:30:01,000: INFO/MainProcess] Task metrics.tasks.compute[1] received",
        "[2026-11-22 09:30:02,000: ERROR/ForkPoolWorker-1] Task metrics.tasks.compute[1] raised: ValueError",
        "Traceback (most recent call last):",
        '  File "metrics/tasks.py", line 3, in compute',
        "[2026-11-22 09:30:03,000: INFO/MainProcess] Task playbooks.tasks.escalate[2] succeeded in 0.01s",
        "[2026-11-22 09:30:04,000: WARNING/MainProcess] consumer: Connection to broker lost.",
    ]

    shown = [line for line in lines if console(line)]

    assert shown == [lines[3], lines[4], lines[5], lines[7]]


def test_the_readiness_checks_stay_off_the_console(run):
    web = run.processes()["web"]

    assert not web.console(f'127.0.0.1 - - [x] "GET /healthz HTTP/1.1" 200 100 "-" "{run.READINESS_AGENT}"')
    assert web.console('127.0.0.1 - - [x] "GET /settings/ HTTP/1.1" 403 1725 "-" "Mozilla/5.0"')


# A stand-in server: writes when it was asked to stop and when it ended, taking `delay` seconds in between.
STAND_IN = """
import signal, sys, time
name, delay, log = sys.argv[1], float(sys.argv[2]), sys.argv[3]
def stop(signum, frame):
    with open(log, "a") as out:
        out.write(f"{name} asked {time.monotonic()}\\n")
    time.sleep(delay)
    with open(log, "a") as out:
        out.write(f"{name} ended {time.monotonic()}\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, lambda *a: open(log, "a").write(f"{name} got SIGINT\\n"))
print("ready", flush=True)
while True:
    time.sleep(0.05)
"""


def test_shutdown_stops_beat_and_web_before_the_worker_and_lets_each_finish(run, tmp_path):
    log = tmp_path / "stops.log"
    stand_ins = {name: run.Process(name, [sys.executable, "-c", STAND_IN, name, str(delay), str(log)],
                                   console=lambda line: False)
                 for name, delay in (("web", 0.5), ("worker", 0.5), ("beat", 0.1))}
    for process in stand_ins.values():
        process.start()
    for process in stand_ins.values():
        assert process.popen.stdout.readline().strip() == "ready"
        # A session of its own: the terminal's Ctrl-C reaches the supervisor only.
        assert os.getsid(process.popen.pid) == process.popen.pid != os.getsid(0)

    run.stop_in_order(stand_ins, threading.Event())

    events = {" ".join(line.split()[:2]): float(line.split()[2]) for line in log.read_text().splitlines()}
    assert set(events) == {f"{name} {what}" for name in stand_ins for what in ("asked", "ended")}
    assert events["worker asked"] > max(events["web ended"], events["beat ended"])
    assert all(process.popen.returncode == 0 for process in stand_ins.values())  # none killed


def test_a_second_ctrl_c_kills_what_is_still_stopping(run, tmp_path):
    log = tmp_path / "stops.log"
    slow = {name: run.Process(name, [sys.executable, "-c", STAND_IN, name, "30", str(log)], console=lambda line: False)
            for name in ("web", "worker", "beat")}
    for process in slow.values():
        process.start()
    for process in slow.values():
        process.popen.stdout.readline()
    hurry = threading.Event()
    threading.Timer(0.5, hurry.set).start()

    started = time.monotonic()
    run.stop_in_order(slow, hurry)

    assert time.monotonic() - started < 10
    assert all(process.popen.returncode == -signal.SIGKILL for process in slow.values())
