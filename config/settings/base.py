"""Settings shared by every environment; each value comes from the environment with a safe local default.

The defaults point at the embedded PostgreSQL and Valkey servers that `make run` starts under `.data/`, on
the ports EMBEDDED_PG_PORT and EMBEDDED_REDIS_PORT name (config/embedded.py), so `manage.py` works from the
project folder with no extra environment, and moving a server's port moves the app with it.
"""

from config import embedded

from .environment import BASE_DIR, env

# Development only: config/settings/production.py refuses to start with it.
DEVELOPMENT_SECRET_KEY = "insecure-local-development-key-change-me-in-production"
SECRET_KEY = env("DJANGO_SECRET_KEY", default=DEVELOPMENT_SECRET_KEY)
DEBUG = env.bool("DJANGO_DEBUG", default=False)
BASE_DOMAIN = env("BASE_DOMAIN", default="localhost")
# The port `make run` serves the web on (recorded in the data folder while it does): the address commands print.
PORT = embedded.port("PORT")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=[BASE_DOMAIN, f".{BASE_DOMAIN}"])

# --- Tenancy: decided once. Public schema: tenants and their domains. Everything else: per tenant.
SHARED_APPS = [
    "django_tenants",
    "tenants",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.staticfiles",
]
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "users",
    "integrations",
    "accounts",
    "connectors",
    "metrics",
    "playbooks",
    "reviews",
    "notifications",
    "audit",
    "workspace",
]
INSTALLED_APPS = list(SHARED_APPS) + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_URLCONF = "config.urls_public"
ROOT_URLCONF = "config.urls"
# New tenants are cloned from a migrated template schema instead of running every migration.
TENANT_BASE_SCHEMA = "tenant_template"
TENANT_CREATION_FAKES_MIGRATIONS = True
# tenants.template: the pg_dump that writes the template's recipe (default: the embedded PostgreSQL's, else PATH's).
PG_DUMP = env("PG_DUMP", default="")
# platform_migrate: tenants migrated in parallel processes (tenants.migrate; `--processes` overrides it). The name
# is django-tenants' own, so `migrate_schemas --executor multiprocessing` follows it too.
TENANT_MULTIPROCESSING_MAX_PROCESSES = env.int("TENANT_MIGRATION_PROCESSES", default=1)
SHOW_PUBLIC_IF_NO_TENANT_FOUND = False
# A host that is no team's gets the product's own 404 page (a mistyped team name), never Django's debug page.
DEFAULT_NOT_FOUND_TENANT_VIEW = "config.errors.unknown_tenant"
# Set search_path once per tenant switch instead of before every query: half the round trips.
TENANT_LIMIT_SET_CALLS = True
# core.replica: reads of safe requests to the `replica` alias when DATABASE_REPLICA_URL configures one.
DATABASE_ROUTERS = ("core.replica.ReplicaRouter", "django_tenants.routers.TenantSyncRouter")

MIDDLEWARE = [
    "django_tenants.middleware.main.TenantMainMiddleware",
    "core.replica.ReplicaReadsMiddleware",  # after the tenant is known: it sets it on the replica too
    "django.middleware.security.SecurityMiddleware",
    "config.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Before CommonMiddleware: an API path without (or with) its trailing slash reaches its endpoint, no redirect;
    # unknown API paths are JSON 404s; NUL characters in API queries are 400s.
    "core.api.addressing.ApiAddressMiddleware",
    "django.middleware.common.CommonMiddleware",
    # API bodies over their view's cap are refused before anything (CSRF, authentication) reads them.
    "core.api.body.BodyLimitMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.middleware.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Every tenant page requires a signed-in user unless its view says @login_not_required.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "users.middleware.PasswordChangeRequiredMiddleware",
]

# Only this host's scripts, stylesheets and images; no plugins, no framing, forms post back here only.
CONTENT_SECURITY_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    # style="" attributes only (data-driven bar widths and heat-map colours); no <style> element, no script.
    "style-src-attr": ["'unsafe-inline'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "config.errors.csrf_failure"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

DATABASES = {
    "default": env.db("DATABASE_URL", default=embedded.database_url())
}
DATABASES["default"]["ENGINE"] = "django_tenants.postgresql_backend"
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# A PostgreSQL streaming replica for the reads of safe requests (core.replica). django-tenants' backend, so the
# tenant's search_path is set on its connections as on the primary's.
DATABASE_REPLICA_URL = env("DATABASE_REPLICA_URL", default="")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = env.db_url_config(DATABASE_REPLICA_URL) | {
        "ENGINE": "django_tenants.postgresql_backend",
        "CONN_MAX_AGE": DATABASES["default"]["CONN_MAX_AGE"],
        "CONN_HEALTH_CHECKS": True,
        "TEST": {"MIRROR": "default"},
    }
    DATABASES["replica"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 2)
# Reads fall back to the primary when the replica is further behind than this, or down.
REPLICA_MAX_LAG_SECONDS = env.float("REPLICA_MAX_LAG_SECONDS", default=5.0)
# How long a process trusts its last health check of the replica.
REPLICA_HEALTH_SECONDS = env.float("REPLICA_HEALTH_SECONDS", default=5.0)
# How long after a write its author's reads stay on the primary (longer than any lag the replica may have).
REPLICA_PIN_SECONDS = env.int("REPLICA_PIN_SECONDS", default=10)
# How many database connections a computation run of every account uses: KPIs that share no input are computed
# side by side, one connection each (metrics.services.computation_run_execute). 1: one KPI after another.
METRICS_COMPUTE_CONNECTIONS = env.int("METRICS_COMPUTE_CONNECTIONS", default=2)
# How many accounts' histories a renewal or expansion model learns from at most: above it, a fixed sample (the same
# accounts every training), so a training's time and memory stop growing with the tenant (docs/prediction.md).
PREDICTION_TRAINING_MAX_ACCOUNTS = env.int("PREDICTION_TRAINING_MAX_ACCOUNTS", default=20_000)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default=embedded.redis_url())
CACHES = {
    "default": {
        # Degrades to a miss when Redis is down (config/cache.py): an outage never fails a request.
        "BACKEND": "config.cache.ResilientRedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        # Cache keys carry the tenant's schema so no tenant ever reads another's entries.
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
    }
}

AUTH_USER_MODEL = "users.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Password guessing: this many failed sign-ins per account and address within the window, then refused.
AUTHENTICATION_BACKENDS = ["users.throttle.ThrottledModelBackend"]
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
LOGIN_FAILURE_WINDOW_SECONDS = env.int("LOGIN_FAILURE_WINDOW_SECONDS", default=15 * 60)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
# One date format everywhere (config/formats/en): ISO dates, 24-hour times.
FORMAT_MODULE_PATH = ["config.formats"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

EMAIL_BACKEND = env("EMAIL_BACKEND", default="config.dev_mail.MailFolderBackend")
# Where development emails go (config/dev_mail.py): one .eml file each, listed at /dev/mail/ on the bare host.
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", default=str(embedded.data_dir() / "mail"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Bellwether <bellwether@localhost>")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)

# --- Ingest follow-ups: a batch whose follow-up has not run this long after it arrived lost its message
# (a broker outage, a dead worker); the per-minute sweeper runs it.
INGEST_FOLLOW_UP_GRACE_SECONDS = env.int("INGEST_FOLLOW_UP_GRACE_SECONDS", default=30)

# --- Outbound webhooks: seconds between retries (one more attempt than delays, then the delivery fails),
# the request timeout, and whether endpoints on private networks may be called (off in production: SSRF).
WEBHOOK_RETRY_DELAYS = [30, 120, 600, 3600, 21600]
WEBHOOK_TIMEOUT_SECONDS = env.int("WEBHOOK_TIMEOUT_SECONDS", default=5)
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env.bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", default=True)
# Certificates that sign HTTPS endpoints (a file of PEM CA certificates); unset: the public CAs (certifi).
# Deliveries ignore HTTP(S)_PROXY and REQUESTS_CA_BUNDLE: they connect to the address they checked.
WEBHOOK_CA_BUNDLE = env.str("WEBHOOK_CA_BUNDLE", default=None)
# How long the delivery log keeps answered deliveries, and failed ones (which an admin may still resend).
WEBHOOK_DELIVERED_KEPT_DAYS = env.int("WEBHOOK_DELIVERED_KEPT_DAYS", default=30)
WEBHOOK_FAILED_KEPT_DAYS = env.int("WEBHOOK_FAILED_KEPT_DAYS", default=90)

# Requests per API key and minute to the connector endpoints (Segment's tracking API): over it, 429 and Retry-After.
CONNECTOR_RATE_LIMIT = env("CONNECTOR_RATE_LIMIT", default="6000/min")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "integrations.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["core.api.permissions.ReadScope"],
    "DEFAULT_THROTTLE_CLASSES": ["core.api.throttling.CallerRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"caller": env("API_RATE_LIMIT", default="1200/min")},
    "EXCEPTION_HANDLER": "core.api.errors.api_exception_handler",
    # JSON is the API's format; only the views that take a file upload add multipart (CSV import).
    "DEFAULT_PARSER_CLASSES": ["core.api.body.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "core.api.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer",
                                 "rest_framework.renderers.BrowsableAPIRenderer"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Bellwether API",
    "DESCRIPTION": "Push customer data in and read accounts, KPIs and work out. Authenticate with "
                   "`Authorization: Bearer <key>`; keys are per tenant and scoped (ingest, read, admin).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # The error answers every endpoint gives through shared layers (auth, scopes, throttling, lookups).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "core.api.openapi.document_standard_errors"],
    "ENUM_NAME_OVERRIDES": {
        "LifecycleStageEnum": "accounts.models.LifecycleStage",
        "AccountStatusEnum": "accounts.models.AccountStatus",
        "SurveyKindEnum": "accounts.models.SurveyKind",
        "TicketPriorityEnum": "accounts.models.TicketPriority",
        "ApiKeyScopeEnum": "core.api.scopes.Scope",
        "MetricScopeEnum": "metrics.models.Scope",
        "PlaybookTriggerEnum": "playbooks.models.Trigger",
        "StepKindEnum": "playbooks.models.StepKind",
        "RunTriggerEnum": "metrics.models.ComputationRun.Trigger",
        "IngestKindEnum": "integrations.models.DataKind",
        "CsvImportPhaseEnum": "integrations.csv_import.PHASES",
        "DecisionKindEnum": "reviews.models.DecisionKind",
        "DecisionStatusEnum": "reviews.models.DecisionStatus",
        "ReviewStatusEnum": "reviews.models.ReviewStatus",
    },
}
# API views cap their own bodies (core.api.body); this caps what pages read.
DATA_UPLOAD_MAX_MEMORY_SIZE = 32 * 1024 * 1024

# One handler, on the root logger: Django's own `django` logger gets none of its own (its default console handler
# printed every record a second time). A refused request (4xx) is one line, without a traceback: the access log
# already names it, and its traceback only shows where the view said no. Server errors keep theirs.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"client_errors_in_one_line": {"()": "config.logs.ClientErrorsInOneLine"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain",
                             "filters": ["client_errors_in_one_line"]}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django": {"handlers": [], "level": env("LOG_LEVEL", default="INFO"), "propagate": True}},
}

from .celery import *  # noqa: E402,F403
