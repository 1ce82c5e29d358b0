"""Where settings come from: the process environment, then the project's `.env` file (never overriding it), then
the ports the data folder's embedded servers were started on (config/embedded.py).

Its own module so that base.py and the topic modules it imports (celery.py) all read one `env`."""

from pathlib import Path

import environ

from config import embedded

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
embedded.load_environment()
