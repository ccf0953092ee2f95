"""Settings for speechemotion, driven by environment variables.

One file for every environment: each value comes from the environment through the small
typed helpers below, which raise ``ImproperlyConfigured`` on values they cannot read.
Importing this module must never import TensorFlow (see ``ml.recognizer``).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path

import dj_database_url
from csp import constants as CSP  # noqa: N812  (reads like Django 6's django.utils.csp.CSP)
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_UNSET = object()


def _raw(name: str, environ: Mapping[str, str] | None) -> str | None:
    value = (os.environ if environ is None else environ).get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def env_str(
    name: str, default: str | None | object = _UNSET, *, environ: Mapping[str, str] | None = None
) -> str | None:
    """Return the variable as a string; without a default a missing value is an error."""
    value = _raw(name, environ)
    if value is not None:
        return value
    if default is _UNSET:
        raise ImproperlyConfigured(f"Set the {name} environment variable.")
    return default  # type: ignore[return-value]


def env_bool(name: str, default: bool, *, environ: Mapping[str, str] | None = None) -> bool:
    """Read ``1/true/yes/on`` or ``0/false/no/off`` (any case)."""
    value = _raw(name, environ)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a boolean; use one of true/false, yes/no, on/off, 1/0."
    )


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Read a whole number, optionally no smaller than ``minimum``."""
    value = _raw(name, environ)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is too small; the minimum is {minimum}.")
    return number


def env_float(
    name: str,
    default: float,
    *,
    minimum: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> float:
    """Read a finite number (``2``, ``0.5``, ``1e3``), optionally no smaller than ``minimum``."""
    value = _raw(name, environ)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a number.") from None
    if not math.isfinite(number):
        raise ImproperlyConfigured(f"{name}={value!r} is not a finite number.")
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number:g} is too small; the minimum is {minimum:g}.")
    return number


def env_dir(
    name: str, default: Path | None = None, *, environ: Mapping[str, str] | None = None
) -> Path | None:
    """Read the path of an existing directory (``~`` expanded)."""
    value = _raw(name, environ)
    if value is None:
        return default
    path = Path(value).expanduser()
    if not path.is_dir():
        raise ImproperlyConfigured(f"{name}={value!r} is not a directory.")
    return path


def env_list(
    name: str, default: list[str] | None = None, *, environ: Mapping[str, str] | None = None
) -> list[str]:
    """Read a comma-separated list, ignoring blanks around and between the items."""
    value = _raw(name, environ)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


# --- Core -----------------------------------------------------------------------------------

DEBUG = env_bool("DEBUG", True)

# A development key only exists when DEBUG is on, so a production deployment that forgets
# SECRET_KEY fails at start-up instead of signing sessions with a public value.
_DEV_SECRET_KEY = "django-insecure-dev-only-key-do-not-deploy"
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET_KEY if DEBUG else _UNSET)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    # Django would answer every request with 400; say why at start-up instead.
    raise ImproperlyConfigured(
        "Set the ALLOWED_HOSTS environment variable (the site's host names, comma-separated); "
        "it is required when DEBUG is off."
    )
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # The Content-Security-Policy header (its checks warn about settings in the old format).
    "csp",
    # Before analyzer: its ready() discovers analyzer/tasks.py.
    "procrastinate.contrib.django",
    "analyzer",
    # Sign-up, sign-in limits and the account pages (templates/accounts).
    "accounts",
    # The REST API under /api/v1/, its OpenAPI schema and docs (Swagger UI's files served
    # from here by the sidecar), and the API keys.
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api",
    "sharing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files are answered here, before sessions and the database are touched.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # A database that cannot be reached, or a full disk, is a 503/507 page, not a 500.
    "analyzer.middleware.ServiceUnavailableMiddleware",
]

ROOT_URLCONF = "speechemotion.urls"

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
                "accounts.context_processors.accounts",
            ],
        },
    },
]

WSGI_APPLICATION = "speechemotion.wsgi.application"

# --- Database -------------------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/speechemotion")
try:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0)
        )
    }
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a usable database URL: {exc}") from None
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    # jsonb, the indexes and the tests all assume PostgreSQL.
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (postgres://...).")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth and sessions ----------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "analyzer:history"
LOGOUT_REDIRECT_URL = "analyzer:upload"

# Anyone may create an account; with ALLOW_SIGNUP=0 the page and its links are gone (404).
ALLOW_SIGNUP = env_bool("ALLOW_SIGNUP", True)
# The optional admin account `make run` creates (`manage.py ensure_superuser`, which checks
# the values and reports one it cannot use by its variable's name).
DJANGO_SUPERUSER_USERNAME = (env_str("DJANGO_SUPERUSER_USERNAME", "") or "").strip()
DJANGO_SUPERUSER_PASSWORD = env_str("DJANGO_SUPERUSER_PASSWORD", "") or ""
DJANGO_SUPERUSER_EMAIL = (env_str("DJANGO_SUPERUSER_EMAIL", "") or "").strip()

# Failed sign-ins (the site's and the admin's), sign-ups and password-reset requests are
# limited per client address (an IPv6 /64 counts as one) and per user name or e-mail
# address within a sliding window; more get a 429. Counted in the database
# (accounts.Attempt), so that every gunicorn worker and machine sees the same attempts.
ACCOUNTS_ATTEMPT_WINDOW_SECONDS = env_int("AUTH_ATTEMPT_WINDOW_SECONDS", 15 * 60, minimum=1)
ACCOUNTS_ATTEMPTS_PER_NAME = env_int("AUTH_ATTEMPTS_PER_NAME", 5, minimum=1)
ACCOUNTS_ATTEMPTS_PER_ADDRESS = env_int("AUTH_ATTEMPTS_PER_ADDRESS", 20, minimum=1)

SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 60 * 60 * 24 * 30, minimum=60)

# --- HTTP security --------------------------------------------------------------------------

# Cookies only over HTTPS in production. Browsers treat http://localhost as secure, so
# `make serve` still works locally; a script talking plain HTTP needs SECURE_COOKIES=0.
SECURE_COOKIES = env_bool("SECURE_COOKIES", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
# No script reads the CSRF cookie: the pages send the token from the form.
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY", False)
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The proxy is every request's REMOTE_ADDR; the client is the address it appended to
# X-Forwarded-For (used to count sign-in attempts per client).
ACCOUNTS_TRUST_X_FORWARDED_FOR = BEHIND_TLS_PROXY
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# Browsers ignore HSTS over plain HTTP, so the production default costs nothing locally.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 60 * 60 * 24 * 365, minimum=0)
# Both reach beyond this site (every subdomain; the browsers' built-in list): opt in.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# The same policy with DEBUG on, so that a page that breaks it breaks in development too.
# Inline <script> elements carry the request's nonce (``request.csp_nonce``); inline
# styles and the SVG charts' style attributes need 'unsafe-inline' for styles only; the
# recorder's preview plays a blob: URL.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [CSP.SELF],
        "script-src": [CSP.SELF, CSP.NONCE],
        "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
        "img-src": [CSP.SELF, "data:", "blob:"],
        "media-src": [CSP.SELF, "blob:"],
        "connect-src": [CSP.SELF],
        "object-src": [CSP.NONE],
        "frame-ancestors": [CSP.NONE],
        "base-uri": [CSP.SELF],
        "form-action": [CSP.SELF],
    },
}

# --- API (/api/v1/) ------------------------------------------------------------------------------

REST_FRAMEWORK = {
    # Bearer first: an unauthenticated request is a 401 naming the scheme, not a 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.BearerKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.ApiKeyRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# Requests per key (or signed-in user, or client address) in a period: N/second, minute,
# hour or day. Counted in the "api" cache, a database table every process shares.
API_THROTTLE_RATE = env_str("API_THROTTLE_RATE", "120/minute")
if not re.fullmatch(r"[1-9]\d*/(s|sec|second|m|min|minute|h|hour|d|day)", API_THROTTLE_RATE):
    raise ImproperlyConfigured(
        f"API_THROTTLE_RATE={API_THROTTLE_RATE!r} is not a rate; write e.g. 120/minute "
        "(per second, minute, hour or day)."
    )

SPECTACULAR_SETTINGS = {
    "TITLE": "speechemotion API",
    "DESCRIPTION": (
        "Upload speech, get the emotion the voice expresses. Send an API key (from "
        "/api/keys/) as `Authorization: Bearer <key>`."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Swagger UI from drf-spectacular-sidecar's static files: no CDN, the CSP holds.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # The API's throttle counts; the table is made by api's migration 0002.
    "api": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "api_throttle_cache",
        # One small row per key (or user, or address) seen within the rate's period; past
        # the default 300 Django would drop a third of them and forget their counts.
        "OPTIONS": {"MAX_ENTRIES": 100_000},
    },
}

MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# --- E-mail (password resets) ---------------------------------------------------------------

# Without EMAIL_HOST the e-mails are printed on the console (the `make run` terminal);
# `check --deploy` warns about that. With it they go through that SMTP server.
EMAIL_HOST = env_str("EMAIL_HOST", None)
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_HOST = EMAIL_HOST or "localhost"
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
# STARTTLS on the submission port (587); EMAIL_USE_TLS=0 for a local relay.
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
# A server that hangs would otherwise hold a web worker's thread for good.
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "speechemotion <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Internationalisation -------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files and uploads ---------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))

# Fixed when the settings load (the test runner turns DEBUG off later): in development
# whitenoise finds the apps' files itself; in production it serves STATIC_ROOT only.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# Uploads are never served from a public URL: the audio view checks ownership first.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
MEDIA_URL = "/media/"

STORAGES = {
    # No explicit location: FileSystemStorage follows MEDIA_ROOT (and test overrides of it).
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # In production whitenoise serves the files `collectstatic` gathered, compressed and
    # with content hashes in their names (cached for good); collectstatic must run first.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Uploads above 2.5 MB stream to a temporary file instead of memory; one over the size
# limit is dropped while it streams in (analyzer.uploads) instead of filling the disk.
FILE_UPLOAD_HANDLERS = [
    "analyzer.uploads.UploadSizeLimitHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_TEMP_DIR = env_str("FILE_UPLOAD_TEMP_DIR", None)
FILE_UPLOAD_PERMISSIONS = 0o640
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o750
# Applies to the non-file part of a request only; file uploads are limited below.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# --- speechemotion --------------------------------------------------------------------------

SPEECHEMOTION_MAX_UPLOAD_BYTES = env_int("MAX_UPLOAD_MB", 50, minimum=1) * 1024 * 1024
SPEECHEMOTION_MAX_DURATION_SECONDS = env_int("MAX_DURATION_SECONDS", 3600, minimum=1)
# A saved model directory; None means the model bundled in ml/models/bundled. Passed to
# ml.recognizer.get_recognizer by the worker (ml reads no environment variable).
_MODEL_DIR = env_dir("SPEECHEMOTION_MODEL")
SPEECHEMOTION_MODEL = None if _MODEL_DIR is None else str(_MODEL_DIR)
# Wall-clock seconds one upload may take to decode (ffmpeg included); analyzer's AppConfig
# passes it to ml.audio.configure.
SPEECHEMOTION_DECODE_TIMEOUT = env_float("SPEECHEMOTION_DECODE_TIMEOUT", 120.0, minimum=1)
# Back-pressure: beyond these an upload is refused at once (nothing stored) with 429 or
# 503 and Retry-After. Analyses one owner (user or browser session) may have waiting or
# running; 0: no limit.
SPEECHEMOTION_MAX_PENDING_PER_OWNER = env_int("SPEECHEMOTION_MAX_PENDING_PER_OWNER", 10, minimum=0)
# The longest expected wait (seconds) of the whole queue, estimated from the analyses
# waiting and the median worker time of the recent ones; 0: no limit. 4 s keeps an accepted
# upload's time to its result near 5 s in a burst (bench/load_test.py).
SPEECHEMOTION_MAX_QUEUE_WAIT = env_float("SPEECHEMOTION_MAX_QUEUE_WAIT", 4.0, minimum=0)
# `manage.py purge` deletes analyses (rows and recordings) older than this; 0 keeps them.
SPEECHEMOTION_RETENTION_DAYS = env_int("RETENTION_DAYS", 30, minimum=0)
SPEECHEMOTION_DATA_DIR = Path(
    env_str("SPEECHEMOTION_DATA_DIR", str(BASE_DIR.parent / "shared" / "data"))
)

# --- Analysis worker (Procrastinate, a task queue in this PostgreSQL database) -----------------

# A pending or running analysis older than this whose job is gone (no worker will ever
# finish it) is marked failed, with a button to try again.
SPEECHEMOTION_ANALYSIS_TIMEOUT_SECONDS = env_int("ANALYSIS_TIMEOUT_SECONDS", 600, minimum=10)
# Runs of one analysis (worker killed, database gone) before it is marked failed.
SPEECHEMOTION_ANALYSIS_MAX_ATTEMPTS = env_int("ANALYSIS_MAX_ATTEMPTS", 3, minimum=1)
# How often a worker looks for jobs of dead workers and for abandoned analyses.
SPEECHEMOTION_RECOVERY_INTERVAL_SECONDS = env_int("RECOVERY_INTERVAL_SECONDS", 30, minimum=1)
# A worker whose heartbeat is older than this is dead; its running jobs are retried.
SPEECHEMOTION_STALLED_WORKER_SECONDS = env_int("STALLED_WORKER_SECONDS", 30, minimum=2)
_WORKER_HEARTBEAT_SECONDS = env_int("WORKER_HEARTBEAT_SECONDS", 10, minimum=1)
if _WORKER_HEARTBEAT_SECONDS >= SPEECHEMOTION_STALLED_WORKER_SECONDS:
    raise ImproperlyConfigured(
        "WORKER_HEARTBEAT_SECONDS must be smaller than STALLED_WORKER_SECONDS, or live "
        "workers would be taken for dead ones."
    )

PROCRASTINATE_WORKER_DEFAULTS = {
    # Tasks run in threads, so a second slot lets the recovery check run beside a long
    # analysis (and two uploads share the machine).
    "concurrency": env_int("WORKER_CONCURRENCY", 2, minimum=1),
    "update_heartbeat_interval": _WORKER_HEARTBEAT_SECONDS,
    "stalled_worker_timeout": SPEECHEMOTION_STALLED_WORKER_SECONDS,
    # On SIGTERM running analyses get this long to finish; then they stop at the next
    # window and go back to the queue.
    "shutdown_graceful_timeout": env_int("WORKER_SHUTDOWN_SECONDS", 10, minimum=0),
    # The analysis row keeps the outcome; finished job rows would only pile up.
    "delete_jobs": "successful",
}

# --- Logging --------------------------------------------------------------------------------

_LOG_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in _LOG_LEVELS:
    raise ImproperlyConfigured(f"LOG_LEVEL={LOG_LEVEL!r} is not a logging level.")
# Procrastinate logs every job (and the recovery check runs every few seconds);
# analyzer.tasks logs what matters about analyses.
WORKER_LOG_LEVEL = env_str("WORKER_LOG_LEVEL", "WARNING").upper()
if WORKER_LOG_LEVEL not in _LOG_LEVELS:
    raise ImproperlyConfigured(f"WORKER_LOG_LEVEL={WORKER_LOG_LEVEL!r} is not a logging level.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "procrastinate": {
            "handlers": ["console"],
            "level": WORKER_LOG_LEVEL,
            "propagate": False,
        },
    },
}
