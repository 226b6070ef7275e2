"""Settings shared by every flavour, each read once from the environment.

Every variable is optional: with nothing set the project runs on an SQLite file,
the offline generator and the bundled mock endpoint.
"""

from __future__ import annotations

import datetime
import os
import re
import zoneinfo
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    """The variable's value with surrounding blanks removed, or the default when unset or empty."""
    return os.environ.get(name, "").strip() or default


def env_int(name: str, default: int | None, *, minimum: int = 0) -> int | None:
    """The variable as an integer no lower than ``minimum``; a bad value stops start-up with its name."""
    raw = env_str(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def env_float(name: str, default: float, *, minimum: float = 0.0) -> float:
    """The variable as a number no lower than ``minimum``; a bad value stops start-up with its name."""
    raw = env_str(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def env_bool(name: str, default: bool) -> bool:
    """The variable read as a yes/no flag (1/true/yes/on or 0/false/no/off)."""
    raw = env_str(name).lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {raw!r}")


def env_timezone(name: str, default: str) -> str:
    """The variable as an IANA time zone name; an unknown one stops start-up with its name."""
    value = env_str(name, default)
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, IsADirectoryError):
        raise ImproperlyConfigured(
            f"{name} must be an IANA time zone name such as Europe/Paris, got {value!r}"
        ) from None
    return value


def env_time(name: str, default: str, *, off: bool = False) -> datetime.time | None:
    """The variable as a local time of day ``HH:MM``; with ``off``, ``off`` means None."""
    raw = env_str(name, default)
    if off and raw.lower() == "off":
        return None
    try:
        value = datetime.time.fromisoformat(raw)
    except ValueError:
        value = None
    if value is None or len(raw) != 5 or value.tzinfo is not None:
        allowed = " or off" if off else ""
        raise ImproperlyConfigured(f"{name} must be a time as HH:MM{allowed}, got {raw!r}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    """A comma-separated variable as a list of non-empty items."""
    raw = env_str(name)
    if not raw:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


SECRET_KEY = env_str("DJANGO_SECRET_KEY", "django-insecure-development-only-key")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "core",
    "accounts",
    "outbox",
    "delivery",
    "pipeline",
    "devtools",
]

MIDDLEWARE = [
    # Outermost: it sees the final answer of every API request (JSON errors, the audit line).
    "core.api.middleware.ApiMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it answers a locked-out admin login.
    "axes.middleware.AxesMiddleware",
]

# The admin login is throttled by django-axes: after AXES_FAILURE_LIMIT failed logins for one
# username from one address, that pair is locked out for the cool-off; a success resets it.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = datetime.timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "core.network.client_ip"
# Behind a TLS-terminating proxy (production's default) the client's scheme and address
# come from the proxy's X-Forwarded-Proto and X-Forwarded-For; never trusted otherwise.
BEHIND_PROXY = False

ROOT_URLCONF = "settings.urls"
WSGI_APPLICATION = "settings.wsgi.application"

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

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
        # With persistent connections, check a reused one before a request or
        # command uses it, so a database restart costs one reconnect, not an error.
        conn_health_checks=True,
    )
}
# A database that accepts connections but never answers must not hang a command or a
# request: libpq gives up connecting after the connect timeout, the server cancels a
# statement running past the statement timeout.
DATABASE_CONNECT_TIMEOUT = env_int("DATABASE_CONNECT_TIMEOUT", 5, minimum=1)
DATABASE_STATEMENT_TIMEOUT = env_float("DATABASE_STATEMENT_TIMEOUT", 30.0, minimum=0.0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options.setdefault("connect_timeout", DATABASE_CONNECT_TIMEOUT)
    if DATABASE_STATEMENT_TIMEOUT:
        _options.setdefault(
            "options", f"-c statement_timeout={round(DATABASE_STATEMENT_TIMEOUT * 1000)}"
        )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a worker writes; the busy timeout makes
    # a second writer wait instead of failing at once with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_timezone("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# /healthz answers within this bound even when the database hangs.
HEALTHZ_TIMEOUT_SECONDS = env_float("HEALTHZ_TIMEOUT_SECONDS", 3.0, minimum=0.1)

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# --- accounts ---------------------------------------------------------------
USERS_CSV_PATH = Path(env_str("USERS_CSV_PATH", str(BASE_DIR / "data" / "users.csv")))
USERS_PAGE_SIZE = env_int("USERS_PAGE_SIZE", 50, minimum=1)
USERS_MAX_PAGE_SIZE = env_int("USERS_MAX_PAGE_SIZE", 500, minimum=1)

# --- the REST API (/api/v1/, the legacy /users/ lookup, /api/schema/, /api/docs/) ----------
API_THROTTLE_RATE = env_str("API_THROTTLE_RATE", "100/second")
if not re.fullmatch(r"[1-9][0-9]*/(second|minute|hour|day)", API_THROTTLE_RATE):
    raise ImproperlyConfigured(
        f"API_THROTTLE_RATE must be N/second, N/minute, N/hour or N/day, got {API_THROTTLE_RATE!r}"
    )
# How long a list's total (X-Total-Count) is reused for the same filters; 0 counts every request.
API_COUNT_CACHE_SECONDS = env_int("API_COUNT_CACHE_SECONDS", 10)
API_COUNT_CACHE = "api_counts"
# Both in each web process's memory. The totals have a cache of their own: one entry per user
# and filters, they would otherwise push the throttle's counts out of the default one.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "default"},
    API_COUNT_CACHE: {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": API_COUNT_CACHE,
        "OPTIONS": {"MAX_ENTRIES": 10_000},
    },
}
# The legacy lookup and the API's schema and docs answer anyone: development only.
API_DEVELOPMENT_OPEN = False
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First, so a 401 says WWW-Authenticate: Api-Key.
        "core.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["core.api.authentication.IsApiClient"],
    "DEFAULT_THROTTLE_CLASSES": ["core.api.throttling.ApiClientRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        # For staff in a browser; errors stay JSON (core.api.errors).
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Daily notifications API",
    "DESCRIPTION": (
        "Users, their notification history and preferences; cancel or requeue a notification. "
        "Every endpoint needs `Authorization: Api-Key <key>` or a staff session."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "PREPROCESSING_HOOKS": ["core.api.schema.only_api_v1"],
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "Category": "accounts.models.NotificationCategory",
        "Status": "outbox.models.DailyNotification.Status",
    },
    # The docs page's JavaScript and CSS come from the project's static files, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- outbox: generation -----------------------------------------------------
OPENAI_API_KEY = env_str("OPENAI_API_KEY")
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL") or None
OPENAI_MODEL = env_str("OPENAI_MODEL", "gpt-4o-mini")
OPENAI_TIMEOUT_SECONDS = env_float("OPENAI_TIMEOUT_SECONDS", 30.0)
OPENAI_MAX_RETRIES = env_int("OPENAI_MAX_RETRIES", 3)
OPENAI_CONCURRENCY = env_int("OPENAI_CONCURRENCY", 8, minimum=1)
# A user the model could not serve gets offline text once their send time is this close.
OPENAI_FALLBACK_MINUTES = env_int("OPENAI_FALLBACK_MINUTES", 30)

# The generator of a run given none (the schedule's): with a key, openai-batch when this is
# on (rows written a day ahead through the Batch API, the rest synchronously), else openai.
OPENAI_USE_BATCH = env_bool("OPENAI_USE_BATCH", False)
# What the model costs, in dollars per million tokens, for the dashboard's estimate; the
# Batch API bills the same tokens at OPENAI_BATCH_DISCOUNT off (0.5 = half price).
OPENAI_PRICE_INPUT_PER_MTOK = env_float("OPENAI_PRICE_INPUT_PER_MTOK", 0.15)
OPENAI_PRICE_OUTPUT_PER_MTOK = env_float("OPENAI_PRICE_OUTPUT_PER_MTOK", 0.60)
OPENAI_BATCH_DISCOUNT = env_float("OPENAI_BATCH_DISCOUNT", 0.5)
if OPENAI_BATCH_DISCOUNT > 1:
    raise ImproperlyConfigured(
        f"OPENAI_BATCH_DISCOUNT must be a fraction from 0 to 1, got {OPENAI_BATCH_DISCOUNT}"
    )

# --- outbox: retention ----------------------------------------------------------
# purge_outbox (and its daily schedule) deletes final rows and their attempts older than this.
OUTBOX_RETENTION_DAYS = env_int("OUTBOX_RETENTION_DAYS", 90, minimum=1)

# --- outbox: the local delivery window ----------------------------------------
NOTIFICATIONS_SEND_TIME = env_time("NOTIFICATIONS_SEND_TIME", "08:00")
NOTIFICATIONS_DELIVER_UNTIL = env_time("NOTIFICATIONS_DELIVER_UNTIL", "21:00", off=True)
NOTIFICATIONS_GENERATE_AHEAD_HOURS = env_float("NOTIFICATIONS_GENERATE_AHEAD_HOURS", 3.0)

# --- delivery ---------------------------------------------------------------
NOTIFICATIONS_URL = env_str("NOTIFICATIONS_URL", "http://localhost:5001/notifications")
NOTIFICATIONS_SIGNING_SECRET = env_str("NOTIFICATIONS_SIGNING_SECRET")
NOTIFICATIONS_MAX_ATTEMPTS = env_int("NOTIFICATIONS_MAX_ATTEMPTS", 8, minimum=1)
NOTIFICATIONS_BACKOFF_SECONDS = env_float("NOTIFICATIONS_BACKOFF_SECONDS", 30.0)
NOTIFICATIONS_BACKOFF_MAX_SECONDS = env_float("NOTIFICATIONS_BACKOFF_MAX_SECONDS", 3600.0)
NOTIFICATIONS_LEASE_SECONDS = env_float("NOTIFICATIONS_LEASE_SECONDS", 60.0, minimum=1.0)
NOTIFICATIONS_TIMEOUT_SECONDS = env_float("NOTIFICATIONS_TIMEOUT_SECONDS", 10.0, minimum=0.1)
NOTIFICATIONS_CONCURRENCY = env_int("NOTIFICATIONS_CONCURRENCY", 256, minimum=1)
# Rows claimed per batch; unset: 8 per request in flight, at most 2,000
# (delivery.worker.batch_size_default).
NOTIFICATIONS_BATCH_SIZE = env_int("NOTIFICATIONS_BATCH_SIZE", None, minimum=1)
# The HTTP client: aiohttp (one event loop, any number in flight) or requests (a thread each).
NOTIFICATIONS_TRANSPORT = env_str("NOTIFICATIONS_TRANSPORT", "aiohttp").lower()
# Endpoint protection: requests per second per worker process (0: no limit), and the
# circuit breaker that stops a worker after this many failed attempts in a row.
NOTIFICATIONS_MAX_RATE = env_float("NOTIFICATIONS_MAX_RATE", 0.0) or None
NOTIFICATIONS_BREAKER_FAILURES = env_int("NOTIFICATIONS_BREAKER_FAILURES", 20, minimum=1)
NOTIFICATIONS_BREAKER_COOLDOWN_SECONDS = env_float(
    "NOTIFICATIONS_BREAKER_COOLDOWN_SECONDS", 5.0, minimum=0.01
)

# --- metrics (/metrics, Prometheus text) -----------------------------------------
# Production serves /metrics only with `Authorization: Bearer <METRICS_TOKEN>` (404 unset).
METRICS_TOKEN = env_str("METRICS_TOKEN")
METRICS_REQUIRE_TOKEN = False

# --- scheduling (django-q2 on the project's own database) -------------------
# Generate runs this often; each run writes the rows whose local send time is near.
# OPENAI_FALLBACK_MINUTES should be at least this, so a fallback is never late.
PIPELINE_GENERATE_EVERY_MINUTES = env_int("PIPELINE_GENERATE_EVERY_MINUTES", 15, minimum=1)
PIPELINE_DELIVER_MAX_SECONDS = env_int("PIPELINE_DELIVER_MAX_SECONDS", 50, minimum=1)
Q_CLUSTER = {
    "name": "notifications",
    "orm": "default",
    "workers": env_int("Q_WORKERS", 2, minimum=1),
    # A task may run for `timeout` seconds; the ORM broker hands it to another
    # worker after `retry` seconds, so timeout must stay below retry.
    "timeout": 600,
    "retry": 720,
    "max_attempts": 1,
    "catch_up": False,
    "save_limit": 500,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["stderr"], "level": env_str("LOG_LEVEL", "WARNING")},
    "loggers": {
        app: {"level": env_str("LOG_LEVEL", "INFO")}
        for app in ("core", "accounts", "outbox", "delivery", "pipeline", "devtools")
    },
}
