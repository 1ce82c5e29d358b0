"""Make sure the browser the end-to-end tests drive is on the machine, installing Debian's Chromium if we can.

The tests drive /usr/bin/chromium through Playwright's Python package and never download a browser build
of their own. On a Debian machine where we are root, a missing Chromium is installed with apt-get; anywhere
else this says what is missing and exits 0, and the browser tests skip with the same reason. It never fails
`make test`: a missing browser costs the browser tests, not the rest of the suite.

Usage: python scripts/browser.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CHROMIUM = Path(os.environ.get("BELLWETHER_CHROMIUM", "/usr/bin/chromium"))
# Fonts so that screenshots show text; Chromium's other recommends (upower, printing) are not needed headless.
APT_PACKAGES = ("chromium", "fonts-liberation")
# A slow mirror must not hang `make test` for ever; the browser tests skip instead.
APT_TIMEOUT_SECONDS = 900


def _apt(*args: str) -> bool:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        result = subprocess.run(["apt-get", "-q", *args], env=env, timeout=APT_TIMEOUT_SECONDS,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        print(f"browser: apt-get {args[0]} did not finish: {error}")
        return False
    if result.returncode != 0:
        print(f"browser: apt-get {args[0]} failed ({result.returncode}): {result.stderr.strip()[-500:]}")
    return result.returncode == 0


def chromium_ensure() -> bool:
    """True when Chromium is (now) installed; installs it with apt-get when root on a Debian machine."""
    if CHROMIUM.exists():
        return True
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        print(f"browser: {CHROMIUM} is missing and cannot be installed here (needs root and apt-get); "
              "the end-to-end browser tests will be skipped.")
        return False
    print(f"browser: installing Debian's {' '.join(APT_PACKAGES)} for the end-to-end tests...")
    # The package lists may be missing or stale on a fresh machine; an install without them finds nothing.
    _apt("update")
    if _apt("install", "-y", "--no-install-recommends", *APT_PACKAGES) and CHROMIUM.exists():
        print(f"browser: installed {CHROMIUM}.")
        return True
    print("browser: Chromium could not be installed; the end-to-end browser tests will be skipped.")
    return False


if __name__ == "__main__":
    chromium_ensure()
