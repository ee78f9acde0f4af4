"""Settings for the contact segmentation project: one module, configured by environment variables.

Every variable is listed in README.md ("Configuration"). DEBUG, SECRET_KEY (required when DEBUG is off),
ALLOWED_HOSTS, STATIC_ROOT, DATABASE_URL (default: SQLite in the project folder), DATABASE_REPLICA_URL /
REPLICA_* (reads that may lag: config.replica), REDIS_URL (optional: django-q2 broker and the shared cache),
TIME_ZONE, EMAIL_URL or EMAIL_BACKEND / EMAIL_HOST…, SECURE_* (HTTPS, HSTS, cookies: on when DEBUG is off),
CSP_REPORT_URI, LOG_FORMAT / LOG_LEVEL, READY_*, SITE_URL / SMS_BACKEND / SEND_BATCH / SMS_OPT_OUT_TEXT /
SMS_INBOUND_SECRET / SEND_CLAIM / SEND_WORKERS / SEND_RETRIES / SEND_RETRY_DELAY
(campaign sending), TRACKING_WAKE_SECONDS (opens and clicks), CAMPAIGN_EVENTS_DAYS (webhooks' campaign events),
NIGHTLY_REBUILD_TIME ("HH:MM"), ACTIVITY_PARTITIONS_AHEAD (months); sign-in: AXES_FAILURE_LIMIT,
AXES_COOLOFF_MINUTES, PASSWORD_MIN_LENGTH, SESSION_COOKIE_AGE, PASSWORD_RESET_TIMEOUT (see "Sign-in protection"
below); WEBHOOKS_* (see "Webhooks" below);
TRUSTED_PROXY_COUNT (reverse proxies in front of the app: where the client's address is read).
"""

import datetime as dt
import os
from pathlib import Path
from typing import Any

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from config.env import email_from_url, env_bool, env_list, env_memory, proxy_ssl_header
from config.log import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", True)
# The development key is public (it is in the repository): only DEBUG may fall back to it.
DEVELOPMENT_SECRET_KEY = "dev-only-insecure-key-change-me-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY", "").strip()
if not DEBUG and SECRET_KEY in ("", DEVELOPMENT_SECRET_KEY):
    raise ImproperlyConfigured(
        "SECRET_KEY is not set: with DEBUG off the app will not start on the development key from the "
        "repository. Set SECRET_KEY to a long random value, e.g. the output of "
        "`python -c 'import secrets; print(secrets.token_urlsafe(50))'` (or set DEBUG=1 for development)."
    )
SECRET_KEY = SECRET_KEY or DEVELOPMENT_SECRET_KEY
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_filters",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_htmx",
    "django_countries",
    "django_q",
    "contacts",
    "segments",
    "campaigns",
    "transfers",
    "users",
    "axes",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api",
    "webhooks",
    "audit",
    "health",
    "csp",
]

MIDDLEWARE = [
    "config.log.RequestIdMiddleware",  # first: every log line of the request carries its id
    "django.middleware.security.SecurityMiddleware",
    "config.csp.CSPMiddleware",  # django-csp's, the unchanged policy built once (config/csp.py)
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # The open pixel and the click redirect (anonymous GETs, a GIF or a redirect) skip the middleware below.
    "campaigns.middleware.TrackingMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Every page needs a login; public exceptions use django.contrib.auth.decorators.login_not_required.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # Ends sessions retired by "Log out everywhere" and slides the session expiry (after messages).
    "users.middleware.SessionGuardMiddleware",
    # Keeps the request (its user and address) for the audit entries the services write (audit.context).
    "audit.context.AuditContextMiddleware",
    # Lagging reads to the replica when one is configured (config.replica); after every check that runs first.
    "config.replica.ReplicaMiddleware",
    # django-axes: last, as its documentation asks (turns a lockout into the sign-in page with the reason).
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
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "contacts.context_processors.navigation",
                "health.context_processors.background",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
        # A kept connection is checked before a request (or a worker's task) reuses it: after a database restart
        # the first task of every worker process failed on its dead connection (bench.faults (d)).
        conn_health_checks=env_bool("CONN_HEALTH_CHECKS", True),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server and the django-q2 worker read and write the same file side by side.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # contact_inactive_idx INCLUDEs last_activity_at and id for PostgreSQL's index-only scans; SQLite
    # ignores the INCLUDE, which is all W040 says.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Prepared statements run with their generic plan, planned once per connection. The only ones are
    # the re-checks' verdict queries (segments.rules.batch): Django binds its own queries on the client.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c plan_cache_mode=force_generic_plan"
    # An unreachable server fails a request (and /readyz) after this many seconds instead of hanging.
    DATABASES["default"]["OPTIONS"]["connect_timeout"] = int(os.environ.get("DATABASE_CONNECT_TIMEOUT", "5"))

# A PostgreSQL streaming replica for reads that may lag a moment (config.replica says which); unset: one database.
# Never created by the tests (TEST MIRROR): a test that needs it adds it itself.
if os.environ.get("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = dj_database_url.parse(
        os.environ["DATABASE_REPLICA_URL"],
        conn_max_age=DATABASES["default"].get("CONN_MAX_AGE", 0),
        conn_health_checks=DATABASES["default"].get("CONN_HEALTH_CHECKS", False),
    )
    DATABASES["replica"]["OPTIONS"] = {**DATABASES["default"].get("OPTIONS", {}), "connect_timeout": 2}
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["config.replica.ReplicaRouter"]
REPLICA_MAX_LAG = float(os.environ.get("REPLICA_MAX_LAG", "10"))  # seconds behind before reads go to the primary
REPLICA_PROBE_SECONDS = float(os.environ.get("REPLICA_PROBE_SECONDS", "5"))  # how often a process asks the replica
REPLICA_PIN_SECONDS = float(os.environ.get("REPLICA_PIN_SECONDS", "5"))  # a writer reads the primary this long

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": int(os.environ.get("PASSWORD_MIN_LENGTH", "12"))},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Sign-in protection (users app, django-axes). -------------------------------------------------
# AxesStandaloneBackend first: it refuses a locked-out username + address before the password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env_bool("AXES_ENABLED", True)
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))  # failed sign-ins per username + address
AXES_COOLOFF_TIME = dt.timedelta(minutes=float(os.environ.get("AXES_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True  # a successful sign-in forgets the earlier failures
AXES_LOCKOUT_CALLABLE = "users.lockout.lockout_response"  # the sign-in page with the reason, not a bare 403
AXES_DISABLE_ACCESS_LOG = True  # no row per successful sign-in (last_login is kept by Django)
# A session ends after SESSION_COOKIE_AGE seconds without a request (sliding: users.middleware refreshes it
# at most every SESSION_REFRESH_SECONDS). "Log out everywhere" and a password change end the others at once.
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", str(12 * 3600)))
SESSION_REFRESH_SECONDS = min(300, SESSION_COOKIE_AGE // 10)
# How long an invitation's set-password link stays valid (seconds).
PASSWORD_RESET_TIMEOUT = int(os.environ.get("PASSWORD_RESET_TIMEOUT", str(3 * 24 * 3600)))

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "Europe/Prague")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# With DEBUG off, config.startup refuses to start until `manage.py collectstatic` has filled it.
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")
NODE_MODULES = BASE_DIR / "node_modules"
# Front-end packages come from npm (package.json) and are served by whitenoise: nothing from a CDN.
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/bootstrap", NODE_MODULES / "bootstrap" / "dist"),
    ("vendor/bootstrap-icons", NODE_MODULES / "bootstrap-icons" / "font"),
    ("vendor/htmx", NODE_MODULES / "htmx.org" / "dist"),
    ("vendor/tom-select", NODE_MODULES / "tom-select" / "dist"),
    ("vendor/chart.js", NODE_MODULES / "chart.js" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

MESSAGE_TAGS = {40: "danger"}  # Bootstrap's name for messages.ERROR

# Email: EMAIL_URL (smtp://user:password@host:25, smtp+tls://…:587, smtps://…:465, console:, file:///path) or
# the separate EMAIL_* variables; EMAIL_URL wins where both are set.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)  # STARTTLS
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)  # TLS from the first byte (port 465)
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "30"))  # seconds; a hung mail server must not stall a send
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(BASE_DIR / "sent_email"))
if os.environ.get("EMAIL_URL"):
    globals().update(email_from_url(os.environ["EMAIL_URL"]))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "marketing@example.com")
SERVER_EMAIL = os.environ.get("SERVER_EMAIL", DEFAULT_FROM_EMAIL)  # the sender of error mails to ADMINS

# --- Campaign sending (campaigns.sending). ------------------------------------------------------------
# Absolute links in messages (the unsubscribe link, List-Unsubscribe) start with SITE_URL.
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# SMS go through this class (campaigns.sms_backends: ConsoleBackend, FileBackend writing to SMS_FILE_PATH).
SMS_BACKEND = os.environ.get("SMS_BACKEND", "campaigns.sms_backends.ConsoleBackend")
SMS_FILE_PATH = os.environ.get("SMS_FILE_PATH", str(BASE_DIR / "sent_sms"))
# Deliveries per worker task; a sending campaign silent for SEND_STALE_AFTER seconds (its worker died) is resumed
# by the minutely check, which also starts scheduled campaigns that are due.
SEND_BATCH = int(os.environ.get("SEND_BATCH", "200"))
SEND_STALE_AFTER = int(os.environ.get("SEND_STALE_AFTER", "90"))
# SMS opt-out (campaigns.sms_optout): every SMS ends with SMS_OPT_OUT_TEXT unless its text already says STOP
# (empty: nothing is added). The SMS provider's webhook POSTs replies to /sms/inbound/ with the header
# X-SMS-Secret: SMS_INBOUND_SECRET (or X-SMS-Signature: HMAC-SHA256 of the body); unset, the endpoint refuses.
SMS_OPT_OUT_TEXT = os.environ.get("SMS_OPT_OUT_TEXT", "Reply STOP to opt out")
SMS_INBOUND_SECRET = os.environ.get("SMS_INBOUND_SECRET", "")
# Opens and clicks are answered at once and recorded by a worker's drain of their inbox (campaigns.inbox); a web
# process wakes that drain at most once per TRACKING_WAKE_SECONDS (a drain then polls every half second).
TRACKING_WAKE_SECONDS = float(os.environ.get("TRACKING_WAKE_SECONDS", "1"))
# Campaign events (sent, opened, clicked, unsubscribed: the webhooks' outbox) are kept this many days.
CAMPAIGN_EVENTS_DAYS = int(os.environ.get("CAMPAIGN_EVENTS_DAYS", "30"))
# A batch claims (commits as `sending`) SEND_CLAIM deliveries at a time before sending them: a worker killed
# mid-send leaves at most that many "Not confirmed" (never sent again). Deliveries refused with a temporary
# error (SMTP 4xx, no connection) are retried SEND_RETRIES times, after SEND_RETRY_DELAY seconds ×4 each time.
SEND_CLAIM = int(os.environ.get("SEND_CLAIM", "50"))
# Chains of batches a send runs side by side (each on its own part of the deliveries); up to Q_WORKERS is useful.
SEND_WORKERS = int(os.environ.get("SEND_WORKERS", "1"))
SEND_RETRIES = int(os.environ.get("SEND_RETRIES", "3"))
SEND_RETRY_DELAY = int(os.environ.get("SEND_RETRY_DELAY", "60"))

# django-q2: the ORM broker by default (nothing else to install); Redis when REDIS_URL is set.
Q_CLUSTER: dict = {
    "name": "segmentation",
    "workers": int(os.environ.get("Q_WORKERS", "2")),
    "timeout": 600,
    "retry": 900,  # must exceed timeout
    "catch_up": False,  # a missed nightly rebuild runs once at the next start, not once per missed night
    "max_attempts": 2,
    "ack_failures": True,
    "label": "Background tasks",
}
if os.environ.get("REDIS_URL"):
    Q_CLUSTER["redis"] = os.environ["REDIS_URL"]
else:
    Q_CLUSTER["orm"] = "default"
if env_bool("Q_SYNC", False):
    Q_CLUSTER["sync"] = True

# The cache every process shares (the API's rate limits count in it): Redis when REDIS_URL is set, else the
# database (config.cache: Django's database cache with an atomic incr; its table is made by `migrate`).
if os.environ.get("REDIS_URL"):
    CACHES: dict[str, dict[str, Any]] = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["REDIS_URL"],
            "KEY_PREFIX": "segments",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "config.cache.DatabaseCache",
            "LOCATION": "django_cache",
            # Counters expire after two windows; the table holds a couple of rows per active token.
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }

# The builder's live preview: the same tree asked for again within this many seconds gets the count made then,
# with its age (segments.selectors.preview; one count per tree across processes). 0: always count afresh.
PREVIEW_CACHE_SECONDS = float(os.environ.get("PREVIEW_CACHE_SECONDS", "30"))

NIGHTLY_REBUILD_TIME = os.environ.get("NIGHTLY_REBUILD_TIME", "02:00")
# PostgreSQL: monthly partitions of the activity table created this many months ahead (the daily schedule).
ACTIVITY_PARTITIONS_AHEAD = int(os.environ.get("ACTIVITY_PARTITIONS_AHEAD", "3"))
# Connections that rebuild the groups of one dependency level at once (the nightly run; PostgreSQL only).
REBUILD_CONNECTIONS = int(os.environ.get("REBUILD_CONNECTIONS", "2"))
# Memory a rebuild may use to hash a group's members and its rule's set (PostgreSQL work_mem, per rebuild).
REBUILD_WORK_MEM = env_memory("REBUILD_WORK_MEM", "64MB")
# Memory a live count (the builder's preview) may use per sort, hash or bitmap (PostgreSQL work_mem).
PREVIEW_WORK_MEM = env_memory("PREVIEW_WORK_MEM", "16MB")
# SQLite (one writer for the whole file): a rebuild writes its difference in transactions of this many
# contacts with a pause between them, so a marketer's edit waits for one slice, never for the whole rebuild.
REBUILD_SLICE = int(os.environ.get("REBUILD_SLICE", "1000"))
REBUILD_SLICE_PAUSE = float(os.environ.get("REBUILD_SLICE_PAUSE", "0.15"))  # seconds between slices
# A running rebuild proves it is alive this often; one silent for REBUILD_STALE_AFTER seconds (its worker
# was killed) is shown as interrupted and queued again by the minutely check.
REBUILD_HEARTBEAT_SECONDS = float(os.environ.get("REBUILD_HEARTBEAT_SECONDS", "15"))
REBUILD_STALE_AFTER = int(os.environ.get("REBUILD_STALE_AFTER", "90"))
REBUILD_MAX_INTERRUPTIONS = 3
# Imports write IMPORT_SLICE rows per transaction, pausing IMPORT_SLICE_PAUSE seconds between slices on SQLite;
# a running import silent for IMPORT_STALE_AFTER seconds (its worker died) is marked failed by the minutely check.
# PostgreSQL: 5,000 (fewer statements per row, other writers never wait on a slice); SQLite: 1,000 (one writer for
# the whole file: a slice is how long an edit waits).
_IMPORT_SLICE_DEFAULT = "5000" if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" else "1000"
IMPORT_SLICE = int(os.environ.get("IMPORT_SLICE", _IMPORT_SLICE_DEFAULT))
IMPORT_SLICE_PAUSE = float(os.environ.get("IMPORT_SLICE_PAUSE", "0.15"))
IMPORT_STALE_AFTER = int(os.environ.get("IMPORT_STALE_AFTER", "90"))
# Undoing an import of more contacts (created + updated) than this runs in the worker, not in the request (an
# undo handles about 2,500 contacts/s on PostgreSQL: 100k took 40 s on the 2-core test machine);
# an undo queued longer than IMPORT_UNDO_STALE_AFTER seconds ago (its worker died: nothing changed) may be asked again.
IMPORT_UNDO_SYNC_MAX = int(os.environ.get("IMPORT_UNDO_SYNC_MAX", "2000"))
IMPORT_UNDO_STALE_AFTER = int(os.environ.get("IMPORT_UNDO_STALE_AFTER", "900"))
# Membership history (who entered or left which group, and why) older than this is pruned nightly.
MEMBERSHIP_HISTORY_DAYS = int(os.environ.get("MEMBERSHIP_HISTORY_DAYS", "400"))

# LOG_FORMAT=json: one JSON object per line (timestamp, level, logger, message, request_id); see config/log.py.
LOGGING = logging_config(
    log_format=os.environ.get("LOG_FORMAT", "text").strip().lower(), level=os.environ.get("LOG_LEVEL", "INFO")
)

# --- HTTPS and browser protections: all on when DEBUG is off (`manage.py check --deploy` is clean), each
# overridable. Behind a proxy that ends TLS, set SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO (the proxy must
# set that header itself, overwriting any the client sent) so Django knows the request came over HTTPS.
_proxy_header = proxy_ssl_header(os.environ.get("SECURE_PROXY_SSL_HEADER", ""))
if _proxy_header:
    SECURE_PROXY_SSL_HEADER = _proxy_header
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # a load balancer's probe may speak plain HTTP
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", env_bool("SECURE_COOKIES", not DEBUG))
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", env_bool("SECURE_COOKIES", not DEBUG))
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else str(365 * 24 * 3600)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = env_bool("SECURE_CONTENT_TYPE_NOSNIFF", True)
SECURE_REFERRER_POLICY = os.environ.get("SECURE_REFERRER_POLICY", "same-origin")
X_FRAME_OPTIONS = os.environ.get("X_FRAME_OPTIONS", "DENY")

# --- Content-Security-Policy (django-csp), in development and tests too, so a page that needs an inline script
# or style fails in the browser tests, not in production. No 'unsafe-inline', no 'unsafe-eval': pass data with
# data-* attributes or json_script, style with classes in static/css. Relaxed for one view only where a
# third-party page needs it (api/urls.py: Redoc's injected styles; campaigns: the sandboxed email preview).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],  # Bootstrap's and Tom Select's CSS draw icons with data: SVGs
        "font-src": [SELF],
        "connect-src": [SELF],
        "frame-src": [SELF],
        "worker-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
if os.environ.get("CSP_REPORT_URI"):  # where browsers POST violation reports (any collector you run)
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["report-uri"] = [os.environ["CSP_REPORT_URI"]]
if env_bool("CSP_REPORT_ONLY", False):  # report violations without blocking (while trying out a change)
    CONTENT_SECURITY_POLICY_REPORT_ONLY, CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY, {}

# --- Health checks (health/): /healthz (the process answers) and /readyz (what it depends on). -------------
READY_REPLICA_MAX_LAG = float(os.environ.get("READY_REPLICA_MAX_LAG", "30"))  # seconds behind the primary
READY_WORKER_MAX_SILENCE = int(os.environ.get("READY_WORKER_MAX_SILENCE", "180"))  # seconds since a heartbeat
READY_QUEUE_MAX = int(os.environ.get("READY_QUEUE_MAX", "5000"))  # tasks waiting in the broker

# --- Rule engine (segments.rules): who counts as reachable in the builder's preview. -------------
# A contact is email-reachable with an email address and this consent agreed (not revoked), and
# SMS-reachable with a phone number and the SMS consent agreed. An empty value drops the consent check.
REACHABILITY_EMAIL_CONSENT = os.environ.get("REACHABILITY_EMAIL_CONSENT", "newsletter")
REACHABILITY_SMS_CONSENT = os.environ.get("REACHABILITY_SMS_CONSENT", "sms")

# --- JSON API (api/): Django REST framework, schema by drf-spectacular, docs served locally (sidecar). ----
# Requests per token (or per signed-in user) and per period ("600/min"); a request over it gets 429 + Retry-After.
API_RATE = os.environ.get("API_RATE", "600/min")
# Largest request body the API reads (bytes); a larger one gets 413.
API_MAX_BODY = int(os.environ.get("API_MAX_BODY", str(2 * 1024 * 1024)))
# Most ids one request may add to or remove from a group; most contacts per bulk upsert, activities per batch.
API_MAX_BATCH = int(os.environ.get("API_MAX_BATCH", "1000"))
# Days an Idempotency-Key is remembered (a retry after that is a new request); largest activity `data` (bytes).
API_IDEMPOTENCY_DAYS = int(os.environ.get("API_IDEMPOTENCY_DAYS", "7"))
API_ACTIVITY_DATA_MAX = int(os.environ.get("API_ACTIVITY_DATA_MAX", str(16 * 1024)))
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.RolePermission"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.TokenRateThrottle"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.LimitedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Contact segmentation API",
    "DESCRIPTION": (
        "Contacts, accounts and contact groups. Authenticate with `Authorization: Bearer <token>` (create a "
        'token under your name → API tokens). Every error is `{"error": {"code", "message", "path"}}`.'
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- The client's address (audit log, issue 15) ------------------------------------------------------------
# How many reverse proxies stand in front of the app. 0: the address is REMOTE_ADDR. N: it is the N-th
# X-Forwarded-For entry from the right (the one the outermost of your proxies wrote; the entries left of it
# come from the client and are never trusted). Set it only when every request passes through those proxies.
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))

# --- Webhooks (webhooks/): membership events POSTed to the URLs Admins register. -------------------------------
# Private, loopback and link-local targets are refused unless this is true (a test's receiver on 127.0.0.1).
WEBHOOKS_ALLOW_PRIVATE = env_bool("WEBHOOKS_ALLOW_PRIVATE", False)
WEBHOOKS_TIMEOUT = float(os.environ.get("WEBHOOKS_TIMEOUT", "10"))  # seconds per request
WEBHOOKS_RETRY_HOURS = float(os.environ.get("WEBHOOKS_RETRY_HOURS", "24"))  # a delivery is retried this long
WEBHOOKS_MAX_BACKOFF_MINUTES = int(os.environ.get("WEBHOOKS_MAX_BACKOFF_MINUTES", "60"))
# An endpoint is disabled after this many deliveries in a row failed (each after its retries).
WEBHOOKS_DISABLE_AFTER = int(os.environ.get("WEBHOOKS_DISABLE_AFTER", "10"))
