"""Local development: the embedded servers, debug pages, static files served straight from the apps, emails as
files (config/dev_mail.py). For one machine only: `make run` serves it on 127.0.0.1 and says so; anything else
runs config/settings/production.py (docs/deployment.md)."""

from .base import *  # noqa: F403
from .base import ALLOWED_HOSTS
from .environment import env

# http://127.0.0.1:8000/ is what a newcomer types: show the page that names the team addresses, not a blank 400.
ALLOWED_HOSTS = [*ALLOWED_HOSTS, "127.0.0.1"]

DEBUG = env.bool("DJANGO_DEBUG", default=True)
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
