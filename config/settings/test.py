"""Test settings: fast hashing, in-memory email, plain static storage."""

from config import embedded

from .base import *  # noqa: F403
from .environment import env

# Tests use their own Redis database, so a running `make run` worker never takes a test's message.
REDIS_URL = env("TEST_REDIS_URL", default=embedded.redis_url(1))
CELERY_BROKER_URL = REDIS_URL
CACHES["default"]["LOCATION"] = REDIS_URL  # noqa: F405

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
ALLOWED_HOSTS = [".localhost", "localhost", "testserver"]
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Two test runs at once (two developers, or a developer and a helper) need two test databases.
DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME", default="test_bellwether")}  # noqa: F405
WEBHOOK_RETRY_DELAYS = [1, 2, 4]  # a real worker test sees a retry within seconds
