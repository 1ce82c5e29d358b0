"""Where settings come from: the process environment, then the project's `.env` file (never overriding it).

Its own module so that base.py and the topic modules it imports (celery.py) all read one `env`."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
