"""`make run`: migrate, make sure the demo tenant exists, then run the web server, a Celery worker and
Celery beat together until Ctrl-C or SIGTERM, stopping all three cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
ENV = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.dev")}
PORT = os.environ.get("PORT", "8000")
BASE_DOMAIN = os.environ.get("BASE_DOMAIN", "localhost")
DATA = ROOT / ".data"


def manage(*args: str) -> None:
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=ENV, check=True)


def main() -> int:
    manage("platform_migrate")
    manage("seed_demo", "--if-missing")
    DATA.mkdir(exist_ok=True)
    processes = {
        "web": [PY, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{PORT}", "--workers", "2",
                "--threads", "4", "--access-logfile", "-", "--graceful-timeout", "10"],
        "worker": [PY, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO", "--concurrency", "2"],
        "beat": [PY, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO",
                 "--schedule", str(DATA / "celerybeat-schedule")],
    }
    running = {name: subprocess.Popen(command, cwd=ROOT, env=ENV) for name, command in processes.items()}

    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    print(f"\nBellwether is running: http://acme.{BASE_DOMAIN}:{PORT}/", flush=True)
    print("  Demo logins (password 'bellwether-demo'):", flush=True)
    for email, role in [("leader@acme.example", "CS leader"), ("admin@acme.example", "admin"),
                        ("manager1@acme.example", "CS manager"), ("csm1@acme.example", "CSM")]:
        print(f"    {email:<26} {role}", flush=True)
    print("  Ctrl-C stops the web server, worker and beat; `make stop` stops PostgreSQL and Valkey.\n", flush=True)

    exit_code = 0
    while not stopping:
        for name, process in running.items():
            if process.poll() is not None:
                print(f"{name} exited with code {process.returncode}; stopping the rest.", flush=True)
                exit_code = process.returncode or 1
                stopping = True
                break
        time.sleep(0.5)

    for process in running.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for process in running.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
    print("Stopped the web server, worker and beat.", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
