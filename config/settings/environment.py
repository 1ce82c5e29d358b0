"""Where settings come from: the process environment, then the project's `.env` file (never overriding it), then
the ports the data folder's embedded servers were started on (config/embedded.py).

Its own module so that base.py and the topic modules it imports (celery.py) all read one `env`."""

import re
from pathlib import Path

import environ

from config import embedded

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
embedded.load_environment()

_MEMORY_UNITS_KB = {"kB": 1, "MB": 1024, "GB": 1024 ** 2, "TB": 1024 ** 3}


def work_mem(value: str) -> str:
    """A PostgreSQL `work_mem` amount as its own syntax writes it ("256MB"), checked here so that a wrong value
    stops the process at start with its name, not the first nightly run; "" keeps the server's setting."""
    from django.core.exceptions import ImproperlyConfigured

    value = value.strip()
    if not value:
        return ""
    match = re.fullmatch(r"(\d+)\s*(kB|MB|GB|TB)", value)
    kilobytes = int(match[1]) * _MEMORY_UNITS_KB[match[2]] if match else 0
    if not 64 <= kilobytes <= 2_147_483_647:
        raise ImproperlyConfigured(
            f"DATABASE_BULK_WORK_MEM={value!r} is not a PostgreSQL work_mem amount: write a number and a unit "
            "(kB, MB, GB, TB, case as written), from 64kB to 2047GB, such as 256MB; or leave it empty to keep the "
            "server's setting.")
    return f"{match[1]}{match[2]}"
