"""Settings for the archive scheduler.

Everything that differs between machines comes from the environment (or a `.env` file beside
manage.py), read strictly by django-environ; see `.env.example` and the README for the list.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import csp.constants
import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def env_bool(name: str, *, default: bool) -> bool:
    """django-environ reads any unknown word as False; a typo in DEBUG=ture should fail loudly."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    if raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use true or false.")


def env_int(name: str, *, default: int, minimum: int, maximum: int = 10**9) -> int:
    """A whole number in [minimum, maximum]: past the maximum, durations overflow and counts make no sense."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is too small; use {minimum} or more.")
    if value > maximum:
        raise ImproperlyConfigured(f"{name}={value} is too large; use {maximum} or less.")
    return value


def env_choice(name: str, *, default: str, choices: tuple[str, ...]) -> str:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    if raw.strip().lower() not in choices:
        raise ImproperlyConfigured(f"{name}={raw!r} is not allowed; use {' or '.join(choices)}.")
    return raw.strip().lower()


VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
try:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
except OSError as exc:
    raise ImproperlyConfigured(f"VAR_DIR: cannot create the folder {str(VAR_DIR)[:200]!r}: {exc.strerror}.") from None


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated on first start and kept in var/."""
    if key := env.str("SECRET_KEY", default=""):
        return key
    key_file = VAR_DIR / "secret_key"
    try:
        return key_file.read_text().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(50)
    # O_EXCL: if two processes start at once, exactly one writes the key and both read the same one.
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return key_file.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
if bad_origins := [origin for origin in CSRF_TRUSTED_ORIGINS if not origin.startswith(("http://", "https://"))]:
    raise ImproperlyConfigured(f"CSRF_TRUSTED_ORIGINS: {bad_origins[0][:200]!r} is not an origin; give e.g. "
                               "https://archive.example.lan.")

# HTTPS hardening, switched on by the environment behind a TLS-terminating proxy.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=SECURE_SSL_REDIRECT)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=SECURE_SSL_REDIRECT)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", default=0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
if env_bool("BEHIND_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_q",
    # Content-Security-Policy header (csp.middleware.CSPMiddleware) and request.csp_nonce.
    "csp",
    # Login lockout after repeated failures (AXES_* below); its tables come with its own migrations.
    "axes",
    # Only for its Swagger page template and assets: served from here, so the docs work offline.
    "ninja",
    "common",
    "core",
    "jobs",
    "notifications",
    "scheduling",
    "backups",
    "channels",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Headers of every answer that is not a static file (whitenoise answers those above, with their
    # long cache): Cache-Control, Content-Security-Policy, Permissions-Policy. See "Headers" below.
    "common.middleware.private_no_store",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # NUL or bytes that are not UTF-8 in a page's query string or form: a 400 naming the field.
    "common.middleware.RefuseUnreadableInput",
    # Last, as axes asks: it turns a login refused for a lockout into the lockout page (core.lockout).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"

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
                "core.context_processors.health_badge",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

# --- Database -------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
# django-environ leaves ENGINE out for some schemes it does not know and takes others as an engine's name;
# the app runs on these two.
if DATABASES["default"].get("ENGINE") not in ("django.db.backends.sqlite3", "django.db.backends.postgresql"):
    # The value is not shown: it may hold a password.
    raise ImproperlyConfigured("DATABASE_URL is not a database URL: use sqlite:////absolute/path/db.sqlite3 or "
                               "postgres://user:password@host:5432/name.")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # WAL lets the web, the worker and the scheduler read while one of them writes;
            # IMMEDIATE takes the write lock at BEGIN, so a transaction never fails half-way
            # with "database is locked" when it upgrades from reader to writer; the busy
            # timeout makes waiting writers queue instead of erroring.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
# Long-running processes (worker, scheduler) keep their connection; they call
# close_old_connections() between passes. Web requests reuse it for a minute.
DATABASES["default"].setdefault("CONN_MAX_AGE", env_int("CONN_MAX_AGE", default=60, minimum=0))
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache: shared across processes, so django-q2's monitor and cluster status work ----------
REDIS_URL = env.str("REDIS_URL", default="").strip()
if REDIS_URL and not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    # The value is not shown: it may hold a password.
    raise ImproperlyConfigured("REDIS_URL is not a Redis URL: use redis://host:6379/0, rediss://… or "
                               "unix:///path/to/redis.sock.")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "django_cache",
        }
    }

# --- Job queue (django-q2) ------------------------------------------------------------------
# Our Job table is the history, so django-q2 keeps little of its own. django-q2 stops a job at its
# own time limit (each message carries it: jobs.queue.message_timeout), never later than this
# timeout, which must stay below `retry`, or the ORM broker hands a still-running task to a second
# worker. Our reaper only cleans up after a worker that died: a job still `running` past its limit.
Q_TIMEOUT = env_int("Q_TIMEOUT", default=3600, minimum=1)
Q_CLUSTER = {
    "name": "archive",
    "workers": env_int("Q_WORKERS", default=2, minimum=1),
    "recycle": 500,
    "timeout": Q_TIMEOUT,
    "retry": Q_TIMEOUT + 300,
    "max_attempts": 2,
    "ack_failures": True,
    "save_limit": 100,
    "catch_up": False,
    "poll": 0.2,
    "cache": "default",
    "label": "Task queue",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Axes first: it refuses a locked-out user and address before the password is even checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/schedules"
LOGOUT_REDIRECT_URL = "login"

# --- Brute-force limits -----------------------------------------------------------------------
# The client's address: REMOTE_ADDR, unless this many reverse proxies in front of the app each append
# the address they saw to X-Forwarded-For (core.addresses). Off by default: a client can send that
# header itself, and a spoofed one would give every guess a fresh address.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", default=0, minimum=0, maximum=10)

# Logins (/login/ and /admin/login/, django-axes): after this many failures for one username from one
# address, that pair is refused, the right password too, until the lockout has passed, or an administrator
# runs `manage.py axes_reset_username <username>`. Per pair: an attacker elsewhere cannot lock a user out.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", default=5, minimum=1, maximum=1000)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", default=15, minimum=1, maximum=7 * 24 * 60)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "core.addresses.client_address"
AXES_LOCKOUT_CALLABLE = "core.lockout.lockout_response"
# Tries during a lockout do not push its end further: the time the page names stays true.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
# No table that grows with every login: failed attempts are one row per username and address, deleted once
# their lockout has passed; axes' per-login access log and failure log are off.
AXES_DISABLE_ACCESS_LOG = True
AXES_ENABLE_ACCESS_FAILURE_LOG = False

# API tokens (core.api): after this many refused `Authorization: Bearer` headers from one address within
# one window (fixed windows of this many seconds), that address gets 429 with Retry-After, the right token
# too, until the window ends. No header is no failure: the session may still let the request in.
API_TOKEN_FAILURE_LIMIT = env_int("API_TOKEN_FAILURE_LIMIT", default=20, minimum=1, maximum=1_000_000)
API_TOKEN_FAILURE_WINDOW_SECONDS = env_int("API_TOKEN_FAILURE_WINDOW_SECONDS", default=300, minimum=1,
                                           maximum=24 * 3600)

# --- Internationalisation: UTC everywhere in storage; schedules carry their own zone ----------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
# The admin and any datetime shown without a format use the pages' one format, with its zone.
FORMAT_MODULE_PATH = ["common.formats"]
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Headers: what a browser may load and use on our pages ------------------------------------
# Scripts and styles come only from our own static files (htmx, idiomorph, app.js, the admin's,
# django-ninja's Swagger UI): no inline script, no inline event handler, no eval, so an injected
# `<script>` or `onerror=` does nothing even if some page ever let one through. A script that truly
# must be inline carries the response's nonce ({{ request.csp_nonce }}); none does today.
def _inline_style_hashes(template: Path) -> list[str]:
    """CSP hashes of the `<style>` blocks of the error pages' frame, read from the template itself.

    The error pages need no static file (a 500 may come from the static files failing), so their few
    styles are inline; allowing exactly those blocks by hash keeps 'unsafe-inline' out of style-src.
    The blocks hold no template variables, so the template's text is what the browser hashes.
    """
    import base64
    import hashlib
    import re

    blocks = re.findall(r"<style>(.*?)</style>", template.read_text(), flags=re.DOTALL)
    return [f"'sha256-{base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()}'" for block in blocks]


# YouTube's thumbnail hosts: the only images from elsewhere. The same list limits the thumbnail URLs
# stored from feeds (channels/hosts.py THUMBNAIL_CSP_SOURCES); written out here because config imports no
# domain app, and tests/channels/test_hostile_feeds.py keeps the two equal.
THUMBNAIL_CSP_SOURCES = ("https://i.ytimg.com", "https://*.ytimg.com", "https://yt3.ggpht.com")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", csp.constants.NONCE],
        "style-src": ["'self'", *_inline_style_hashes(BASE_DIR / "templates" / "frame.html")],
        # data: for the small images inlined in Swagger UI's stylesheet.
        "img-src": ["'self'", "data:", *THUMBNAIL_CSP_SOURCES],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# Browser features the app never uses, switched off for its pages and anything they might embed.
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer", "ambient-light-sensor", "autoplay", "bluetooth", "browsing-topics", "camera",
        "display-capture", "encrypted-media", "geolocation", "gyroscope", "hid", "idle-detection",
        "local-fonts", "magnetometer", "microphone", "midi", "payment",
        "publickey-credentials-get", "screen-wake-lock", "serial", "usb", "xr-spatial-tracking",
    )
}

# --- The app's own settings -----------------------------------------------------------------
BACKUP_DIR = Path(env.str("BACKUP_DIR", default=str(VAR_DIR / "backups")))
# Off-site copies: an rclone remote path (`offsite:channel-archive`, a remote of rclone's own config file,
# which RCLONE_CONFIG may name; or an on-the-fly one, `:sftp,host=...,user=...:backups`). Empty: none.
# rclone runs as a program (backups/offsite.py); its own RCLONE_* variables reach it from here or `.env`.
BACKUP_REMOTE = env.str("BACKUP_REMOTE", default="").strip()
if any(char in BACKUP_REMOTE for char in "\n\r\0"):
    raise ImproperlyConfigured("BACKUP_REMOTE holds a line break or NUL; give one rclone remote path.")
YOUTUBE_FEED_URL = env.str(
    "YOUTUBE_FEED_URL", default="https://www.youtube.com/feeds/videos.xml?channel_id={channel_id}"
)

# --- Notifications ----------------------------------------------------------------------------
def env_apprise_urls(name: str) -> list[str]:
    """Comma-separated Apprise URLs, each checked by Apprise now: a typo stops start-up, not an alert."""
    urls = [url.strip() for url in env.list(name, default=[]) if url.strip()]
    if urls:
        from common.notify_urls import mask, problem

        for number, url in enumerate(urls, 1):
            if reason := problem(url):
                raise ImproperlyConfigured(f"{name}: URL {number} of {len(urls)} ({mask(url)}) is not usable. {reason}")
    return urls


# Channels for every deployment without clicking: shown on /notifications as coming from here.
NOTIFY_URLS = env_apprise_urls("NOTIFY_URLS")
# Where the app is reached, for the links in alerts (https://archive.example.lan); empty: paths only.
SITE_URL = env.str("SITE_URL", default="").rstrip("/")
if SITE_URL and not SITE_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(f"SITE_URL={SITE_URL!r} is not an http:// or https:// address.")
# Email channels send through Django's email backend: smtp://host:25, smtp+tls://user:password@host:587,
# smtp+ssl://user:password@host:465 (django-environ's EMAIL_URL; an unknown scheme stops start-up).
try:
    _email = env.email_url("EMAIL_URL", default="smtp://localhost:25")
except ImproperlyConfigured as exc:  # django-environ's message ("Invalid email schema x") does not say where
    raise ImproperlyConfigured(f"EMAIL_URL: {exc}; use smtp://, smtp+tls:// or smtp+ssl://.") from None
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email["EMAIL_HOST"] or "localhost"
EMAIL_HOST_USER = _email["EMAIL_HOST_USER"] or ""
EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"] or ""
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
EMAIL_PORT = _email["EMAIL_PORT"] or (465 if EMAIL_USE_SSL else 587 if EMAIL_USE_TLS else 25)
EMAIL_TIMEOUT = 10  # seconds: a mail server that does not answer must not hold the scheduler's step
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="channel-archive@localhost")

# Windows per scheduler transaction; smaller batches hold the write lock for less time.
SCHEDULER_BATCH_SIZE = env_int("SCHEDULER_BATCH_SIZE", default=500, minimum=1)

# How long schedule runs and finished jobs are kept: the scheduler prunes older ones once a day.
HISTORY_DAYS = env_int("HISTORY_DAYS", default=90, minimum=1, maximum=36_500)

# `Authorization: Bearer <token>` for GET /metrics (Prometheus); unset: staff sessions only.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

LOG_LEVEL = env_choice("LOG_LEVEL", default="info", choices=("debug", "info", "warning", "error", "critical")).upper()
LOG_FORMAT = env_choice("LOG_FORMAT", default="text", choices=("text", "json"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Readable `key=value` lines, or one JSON object per line (common/logs.py).
    "formatters": {
        "text": {"()": "common.logs.KeyValueFormatter"},
        "json": {"()": "common.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # django-q2's logger adds no handler of its own when the root has one: its lines come out in ours.
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # axes: a line per failed login and per lockout (WARNING), not its INFO chatter on every attempt.
        "axes": {"level": "WARNING"},
    },
}
