"""Production: every secret from the environment, HTTPS everywhere, no debug.

No local default survives here: without DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS, DATABASE_URL or REDIS_URL
the settings refuse to load (tests/hardening/test_security_settings.py), so a forgotten variable cannot
start the site on the development key or the embedded servers.
"""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import CACHES, DATABASES, DEVELOPMENT_SECRET_KEY
from .environment import env

if env.bool("DJANGO_DEBUG", default=False):
    raise ImproperlyConfigured("DJANGO_DEBUG is on: production never shows debug pages (they print settings and "
                               "code to anyone). Unset it; use config.settings.dev on your own machine.")
DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY")
if SECRET_KEY == DEVELOPMENT_SECRET_KEY or SECRET_KEY.startswith(("insecure-", "django-insecure-")):
    raise ImproperlyConfigured("DJANGO_SECRET_KEY is a development key, published with the code. Generate one: "
                               "python -c 'import secrets; print(secrets.token_urlsafe(50))'")
if len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be at least 50 characters of random text.")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
# The primary, required; base.py's `replica` (DATABASE_REPLICA_URL), when set, is kept beside it.
DATABASES["default"] = env.db("DATABASE_URL")
REDIS_URL = env("REDIS_URL")
CACHES["default"]["LOCATION"] = REDIS_URL
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
DATABASES["default"]["ENGINE"] = "django_tenants.postgresql_backend"
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env.bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", default=False)
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_URL = env.email_url("EMAIL_URL", default="smtp://localhost:25")
EMAIL_HOST = EMAIL_URL["EMAIL_HOST"]
EMAIL_PORT = EMAIL_URL["EMAIL_PORT"]
EMAIL_HOST_USER = EMAIL_URL["EMAIL_HOST_USER"]
EMAIL_HOST_PASSWORD = EMAIL_URL["EMAIL_HOST_PASSWORD"]
EMAIL_USE_TLS = EMAIL_URL.get("EMAIL_USE_TLS", False)
