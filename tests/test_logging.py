"""The console log says each thing once: Django's records go through the one root handler (no second copy from
Django's default console handler), and a refused request (4xx) is one line without a traceback, while a server
error keeps its traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Logs a refused request the way Django's request handler does (django.utils.log.log_response), with the
# PermissionDenied it caught, under the development settings `make run` serves.
LOG_A_RESPONSE = """
import django; django.setup()
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils.log import log_response
try:
    raise PermissionDenied("Your role cannot open this page.")
except PermissionDenied as exc:
    log_response("Refused: %s", "/settings/", response=HttpResponse(status={status}),
                 request=RequestFactory().get("/settings/"), exception=exc)
"""


def _log(status: int) -> str:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.dev", "LOG_LEVEL": "INFO"}
    result = subprocess.run([sys.executable, "-c", LOG_A_RESPONSE.format(status=status)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def test_a_refused_request_is_logged_once_in_one_line():
    output = _log(403)

    assert output.count("Refused: /settings/") == 1
    assert "Traceback" not in output
    assert len(output.strip().splitlines()) == 1


def test_a_server_error_keeps_its_traceback():
    output = _log(500)

    assert output.count("Refused: /settings/") == 1
    assert "Traceback (most recent call last)" in output
    assert "PermissionDenied: Your role cannot open this page." in output
