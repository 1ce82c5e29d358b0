"""Audit requirements.lock for known vulnerabilities with pip-audit, and tell "not audited" from "clean".

pip-audit prints "No known vulnerabilities found" and exits 0 even when it could audit nothing: a machine
that cannot reach the vulnerability database (PyPI's JSON API, OSV) sees every pin skipped, and CI machines
here reach only the package indexes. So this wrapper reads pip-audit's JSON report and:
- fails (exit 1) on any known vulnerability, naming the package, version, advisory and fixed versions;
- says plainly that the audit was NOT performed when the database was unreachable, and exits 0 (the build
  must not fail for a network it cannot have);
- fails (exit 2) when pip-audit itself breaks for any other reason.

Usage: python scripts/audit_dependencies.py [requirements.lock]
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

UNREACHABLE = re.compile(
    r"not found on PyPI|ConnectionError|Max retries exceeded|NameResolutionError|Name or service not known|"
    r"Temporary failure in name resolution|Could not resolve host|timed out|Connection refused|SSLError")


def verdict(report: dict) -> tuple[int, str]:
    """(exit code, message) for pip-audit's JSON report."""
    dependencies = report.get("dependencies", [])
    vulnerable = [dep for dep in dependencies if dep.get("vulns")]
    skipped = [dep for dep in dependencies if dep.get("skip_reason")]
    audited = len(dependencies) - len(skipped)
    lines = []
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed version yet"
            lines.append(f"VULNERABLE {dep['name']}=={dep.get('version', '?')}: {vuln.get('id')} (fixed in {fixed})")
    if vulnerable:
        return 1, "\n".join([*lines, f"dependency audit FAILED: {len(vulnerable)} vulnerable pin(s)."])
    if dependencies and audited == 0:
        reason = skipped[0]["skip_reason"]
        if UNREACHABLE.search(reason):
            return 0, ("dependency audit NOT PERFORMED: the vulnerability database is unreachable from this "
                       f"machine (every pin skipped; first: {reason}). Run `make lint` where PyPI's JSON API "
                       "or OSV is reachable.")
        return 2, f"dependency audit could not check any pin: {reason}"
    if skipped:
        names = ", ".join(dep["name"] for dep in skipped)
        return 0, f"dependency audit: {audited} pin(s) clean; NOT audited: {names}."
    return 0, f"dependency audit: {audited} pin(s), no known vulnerabilities."


def main(lock: str = "requirements.lock") -> int:
    command = [sys.executable, "-m", "pip_audit", "--requirement", lock, "--no-deps", "--disable-pip",
               "--format", "json", "--progress-spinner", "off"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=600,
                                cwd=Path(__file__).resolve().parent.parent)
    except subprocess.TimeoutExpired:
        print("dependency audit NOT PERFORMED: pip-audit timed out reaching the vulnerability database.")
        return 0
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        if UNREACHABLE.search(result.stderr):
            print("dependency audit NOT PERFORMED: the vulnerability database is unreachable from this machine.")
            return 0
        print(f"dependency audit BROKEN: pip-audit exited {result.returncode}:\n{result.stderr[-2000:]}")
        return 2
    code, message = verdict(report)
    print(message)
    return code


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
