"""`make run`: migrate, make sure the demo tenant exists, then run the web server, a Celery worker and Celery
beat together until Ctrl-C or SIGTERM, and stop them in order (beat and web first, the worker last, each
allowed to finish what it is doing). The one worker consumes both Celery queues (interactive and bulk);
production runs a worker per queue (docs/deployment.md).

It is a development server, and says so: development settings (DEBUG, a fixed secret key, webhooks to private
networks allowed), on 127.0.0.1 only. docs/deployment.md is the way to serve anyone else.

The three processes run in a session of their own, so a Ctrl-C in the terminal reaches only this supervisor,
which then stops them in order; they die with it (Linux) if it is killed. Their full output goes to
`<data>/logs/{web,worker,beat}.log`; the console gets the web's access log and every warning or error, and
the startup ends with the address and the logins, printed once all three are ready.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from config import embedded  # noqa: E402

embedded.load_environment()
PY = sys.executable
PORT = embedded.port("PORT")
BASE_DOMAIN = os.environ.get("BASE_DOMAIN", "localhost")
SETTINGS = os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.dev")
ENV = {**os.environ, "DJANGO_SETTINGS_MODULE": SETTINGS, "PORT": str(PORT), "PYTHONUNBUFFERED": "1"}
DATA = embedded.data_dir()
LOGS = DATA / "logs"
MAIL = DATA / "mail"
DEMO_LOGINS = [("leader@acme.example", "CS leader"), ("admin@acme.example", "admin, also /admin/"),
               ("manager1@acme.example", "CS manager"), ("csm1@acme.example", "CSM")]
DEVELOPMENT_WARNING = (
    "DEVELOPMENT SERVER: debug pages, a fixed development secret key, webhooks allowed to private networks.\n"
    "  It listens on 127.0.0.1 only, for this machine. To serve anyone else, follow docs/deployment.md."
)
READY_SECONDS = 120
# Seconds each process may take to finish what it is doing once asked to stop.
STOP_SECONDS = {"beat": 10, "web": 25, "worker": 60}
# A Celery log record's first line: "[2026-11-22 09:30:00,123: WARNING/MainProcess] ...".
CELERY_RECORD = re.compile(r"^\[\d{4}-\d\d-\d\d [\d:,]+: (?P<level>[A-Z]+)/")
CONSOLE_LEVELS = {"WARNING", "ERROR", "CRITICAL"}
# The user agent of the startup's readiness checks, whose lines in the access log stay off the console.
READINESS_AGENT = "bellwether-run-readiness"

console_lock = threading.RLock()  # a signal handler may print while the main thread does


def say(text: str) -> None:
    with console_lock:
        print(text, flush=True)


def manage(*args: str) -> None:
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=ENV, check=True)


def _die_with_parent() -> None:
    """In the child: receive SIGTERM when the supervisor dies (Linux), so no server outlives a killed `make run`."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class CeleryConsole:
    """Which lines of a Celery process reach the console: records of WARNING and above with their continuation
    lines (a traceback); not the startup banner, the task list or the INFO chatter of every scheduled task."""

    def __init__(self) -> None:
        self.showing = False

    def __call__(self, line: str) -> bool:
        record = CELERY_RECORD.match(line)
        if record:
            self.showing = record["level"] in CONSOLE_LEVELS
        return self.showing


class Process:
    """One of the three servers: its command, its log file, what of its output the console shows, and the line
    that says it is ready."""

    def __init__(self, name: str, command: list[str], console: Callable[[str], bool],
                 ready_line: str | None = None) -> None:
        self.name, self.command, self.console, self.ready_line = name, command, console, ready_line
        self.ready = threading.Event()
        self.popen: subprocess.Popen | None = None

    def start(self) -> None:
        """Start the process (before any relay thread runs: a preexec_fn is only safe without threads)."""
        self.popen = subprocess.Popen(self.command, cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1,
                                      start_new_session=True, preexec_fn=_die_with_parent)

    def relay(self) -> None:
        """Copy its output to its log file, and what the console shows to the console, from a thread."""
        log = (LOGS / f"{self.name}.log").open("a", encoding="utf-8")
        threading.Thread(target=self._relay, args=(self.popen.stdout, log), daemon=True).start()

    def _relay(self, stream: IO[str], log: IO[str]) -> None:
        with log:
            for line in stream:
                log.write(line)
                log.flush()
                if self.ready_line and self.ready_line in line:
                    self.ready.set()
                if self.console(line):
                    say(f"{self.name:<6}| {line.rstrip()}")

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self) -> None:
        if self.running:
            self.popen.send_signal(signal.SIGTERM)

    def wait(self, seconds: float) -> bool:
        """Whether it ended within `seconds`."""
        try:
            self.popen.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return False
        return True

    def kill(self) -> None:
        if self.running:
            self.popen.kill()
            self.popen.wait()


def processes() -> dict[str, Process]:
    return {
        "web": Process("web", [PY, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{PORT}",
                               "--workers", "2", "--threads", "4", "--access-logfile", "-", "--log-level", "warning",
                               "--graceful-timeout", str(STOP_SECONDS["web"] - 5)],
                       console=lambda line: READINESS_AGENT not in line),
        "worker": Process("worker", [PY, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO",
                                     "--concurrency", "2", "--queues", "interactive,bulk"],
                          console=CeleryConsole(), ready_line=" ready."),
        "beat": Process("beat", [PY, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO",
                                 "--schedule", str(DATA / "celerybeat-schedule")], console=CeleryConsole(),
                        ready_line="beat: Starting"),
    }


def _web_answers() -> bool:
    """Whether the web answers its health check (a 503 names a server that is down, but the web answers)."""
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=2)
    try:
        connection.request("GET", "/healthz", headers={"Host": f"{BASE_DOMAIN}:{PORT}", "User-Agent": READINESS_AGENT})
        connection.getresponse().read()
    except OSError:
        return False
    finally:
        connection.close()
    return True


def wait_until_ready(running: dict[str, Process], stopping: threading.Event) -> list[str]:
    """Wait for the web to answer and the worker and beat to say they are ready; the names of those that did not
    within READY_SECONDS."""
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline and not stopping.is_set():
        if running["web"].ready.is_set() or _web_answers():
            running["web"].ready.set()
        if all(process.ready.is_set() for process in running.values()):
            return []
        if any(not process.running for process in running.values()):
            break
        time.sleep(0.3)
    return [name for name, process in running.items() if not process.ready.is_set()]


def banner(not_ready: list[str], settings_module: str = SETTINGS) -> str:
    lines = [""]
    if settings_module.endswith(".dev"):
        lines += [DEVELOPMENT_WARNING, ""]
    if not_ready:
        lines.append(f"Not ready after {READY_SECONDS} s: {', '.join(not_ready)} (see {LOGS}).")
    lines += [f"Development emails: http://{BASE_DOMAIN}:{PORT}/dev/mail/ (files in {MAIL}).",
              f"Logs: {LOGS}/{{web,worker,beat}}.log. Ctrl-C stops the web server, worker and beat; "
              "`make stop` stops PostgreSQL and Valkey.",
              "",
              f"Bellwether is running: http://acme.{BASE_DOMAIN}:{PORT}/",
              "  Demo logins, password 'bellwether-demo':"]
    lines += [f"    {email:<24} {role}" for email, role in DEMO_LOGINS]
    return "\n".join(lines)


def stop_in_order(running: dict[str, Process], hurry: threading.Event) -> None:
    """Beat first (no new scheduled work) with the web (it finishes the requests in flight), then the worker (a
    warm shutdown: it finishes its tasks). A second Ctrl-C kills what is still running."""
    for group in (("beat", "web"), ("worker",)):
        for name in group:
            running[name].stop()
        for name in group:
            deadline = time.monotonic() + STOP_SECONDS[name]
            while running[name].running and time.monotonic() < deadline and not hurry.is_set():
                running[name].wait(0.2)
            if running[name].running:
                say(f"{name} did not stop in time; killing it.")
                running[name].kill()


def main() -> int:
    if SETTINGS.endswith(".dev"):
        say(DEVELOPMENT_WARNING)
    embedded.record_ports(PORT=PORT)
    try:
        manage("platform_migrate")
        manage("seed_demo", "--if-missing")
    except KeyboardInterrupt:
        say("\nInterrupted before the servers started.")
        return 130
    LOGS.mkdir(parents=True, exist_ok=True)
    MAIL.mkdir(parents=True, exist_ok=True)

    stopping, hurry = threading.Event(), threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if stopping.is_set():
            hurry.set()
        else:
            say("\nStopping: beat and the web server first, then the worker (Ctrl-C again to kill them).")
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    running = processes()
    for process in running.values():
        process.start()
    for process in running.values():
        process.relay()
    not_ready = wait_until_ready(running, stopping)
    if not stopping.is_set():
        say(banner(not_ready))

    exit_code = 0
    while not stopping.is_set():
        for name, process in running.items():
            if not process.running:
                say(f"{name} exited with code {process.popen.returncode} (see {LOGS / f'{name}.log'}); "
                    "stopping the rest.")
                exit_code = process.popen.returncode or 1
                stopping.set()
                break
        stopping.wait(0.5)

    stop_in_order(running, hurry)
    say("Stopped the web server, worker and beat. PostgreSQL and Valkey keep running: `make stop` stops them.")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
