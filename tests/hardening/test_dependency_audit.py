"""The dependency audit (`make lint` runs scripts/audit_dependencies.py): a known vulnerability fails the build,
an unreachable vulnerability database is reported as "not performed" and does not."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "audit_dependencies.py"
_spec = importlib.util.spec_from_file_location("audit_dependencies", SCRIPT)
audit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(audit)

NOT_ON_PYPI = "Dependency not found on PyPI and could not be audited: {} ({})"


def _skipped(name: str, version: str) -> dict:
    return {"name": name, "skip_reason": NOT_ON_PYPI.format(name, version)}


def test_a_known_vulnerability_fails_and_names_the_pin_and_the_fix():
    report = {"dependencies": [
        {"name": "django", "version": "3.2.0", "vulns": [{"id": "PYSEC-2021-98", "fix_versions": ["3.2.2"]}]},
        {"name": "celery", "version": "5.7.0", "vulns": []},
    ]}

    code, message = audit.verdict(report)

    assert code == 1
    assert "VULNERABLE django==3.2.0: PYSEC-2021-98 (fixed in 3.2.2)" in message


def test_a_vulnerability_fails_even_when_other_pins_could_not_be_checked():
    report = {"dependencies": [_skipped("amqp", "5.4.2"),
                               {"name": "django", "version": "3.2.0", "vulns": [{"id": "X-1", "fix_versions": []}]}]}

    assert audit.verdict(report)[0] == 1


def test_an_unreachable_database_says_the_audit_was_not_performed_and_passes():
    code, message = audit.verdict({"dependencies": [_skipped("amqp", "5.4.2"), _skipped("django", "5.2.19")]})

    assert code == 0
    assert message.startswith("dependency audit NOT PERFORMED")


def test_clean_pins_pass_and_say_how_many_were_checked():
    report = {"dependencies": [{"name": "django", "version": "5.2.19", "vulns": []},
                               {"name": "celery", "version": "5.7.0", "vulns": []}]}

    assert audit.verdict(report) == (0, "dependency audit: 2 pin(s), no known vulnerabilities.")


def test_pins_that_could_not_be_checked_are_named():
    report = {"dependencies": [{"name": "django", "version": "5.2.19", "vulns": []}, _skipped("privatepkg", "1.0")]}

    assert audit.verdict(report) == (0, "dependency audit: 1 pin(s) clean; NOT audited: privatepkg.")


@pytest.mark.parametrize(("stderr", "code"), [
    ("requests.exceptions.ConnectionError: Max retries exceeded with url: /v1/querybatch", 0),
    ("Traceback ...\nKeyError: 'vulns'", 2),
])
def test_pip_audit_crashing_passes_only_when_the_network_is_the_cause(monkeypatch, capsys, stderr, code):
    monkeypatch.setattr(audit.subprocess, "run", lambda *args, **kwargs: subprocess.CompletedProcess(
        args=args, returncode=1, stdout="", stderr=stderr))

    assert audit.main("requirements.lock") == code
    assert ("NOT PERFORMED" in capsys.readouterr().out) is (code == 0)
