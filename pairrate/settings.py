"""Django settings, all from environment variables (12-factor).

The defaults are the embedded demo: a SQLite file under var/ and Celery tasks run
in-process, so `./run demo` needs no server. Production sets DATABASE_URL,
CELERY_BROKER_URL, PAIRRATE_SECRET_KEY, PAIRRATE_DEBUG=0 and PAIRRATE_ALLOWED_HOSTS.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("PAIRRATE_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


DEBUG = env_bool("PAIRRATE_DEBUG", True)
SECRET_KEY = os.environ.get("PAIRRATE_SECRET_KEY", "insecure-demo-key-change-me" if DEBUG else "")
if not SECRET_KEY:
    raise RuntimeError("PAIRRATE_SECRET_KEY must be set when PAIRRATE_DEBUG=0")
ALLOWED_HOSTS = env_list("PAIRRATE_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("PAIRRATE_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc served from static files (works offline)
    "annotation",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A database outage answers JSON 503 + Retry-After, logged in one line (docs/deploy.md).
    "pairrate.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "pairrate.urls"
WSGI_APPLICATION = "pairrate.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'demo.sqlite3'}"),
        conn_max_age=int(os.environ.get("PAIRRATE_DB_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # Let psycopg prepare a statement once a connection has run it this many times. Only the
    # hot annotation SQL (annotation/rating/sql.py) binds on the server and so can be prepared;
    # Django's default cursor binds on the client and never prepares. Set it empty behind a
    # transaction-mode pooler (pgbouncer), where a prepared statement may be on another session.
    threshold = os.environ.get("PAIRRATE_DB_PREPARE_THRESHOLD", "5")
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = int(threshold) if threshold else None
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The demo serves requests from threads: wait for the write lock rather than fail.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 30
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# The browser app (frontend/) logs in through Django's own views.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"
STATIC_ROOT = Path(os.environ.get("PAIRRATE_STATIC_ROOT", VAR_DIR / "static"))
STATICFILES_DIRS = [d for d in [BASE_DIR / "frontend" / "dist"] if d.is_dir()]

# Media storage: original media copied in by imports, derived files (renders, posters),
# embedding vector shards and exports. One shared volume in docker-compose.
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("PAIRRATE_MEDIA_ROOT", VAR_DIR / "media"))
# Where files live (annotation/storage): '' = MEDIA_ROOT on this machine; s3://bucket/prefix =
# an S3-compatible object store, with MEDIA_ROOT then only this process's scratch space.
# Credentials come from the environment only (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).
PAIRRATE_STORAGE_URL = os.environ.get("PAIRRATE_STORAGE_URL", "")
PAIRRATE_S3_ENDPOINT_URL = os.environ.get("PAIRRATE_S3_ENDPOINT_URL", os.environ.get("AWS_ENDPOINT_URL_S3", ""))
PAIRRATE_S3_PUBLIC_ENDPOINT_URL = os.environ.get("PAIRRATE_S3_PUBLIC_ENDPOINT_URL", "")
PAIRRATE_S3_REGION = os.environ.get("PAIRRATE_S3_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
PAIRRATE_S3_CREATE_BUCKET = env_bool("PAIRRATE_S3_CREATE_BUCKET", False)
# Each machine's cache of objects read from the bucket (LRU on disk; vector shards are mapped from it).
PAIRRATE_STORAGE_CACHE_DIR = Path(os.environ.get("PAIRRATE_STORAGE_CACHE_DIR", VAR_DIR / "storage-cache"))
PAIRRATE_STORAGE_CACHE_BYTES = int(os.environ.get("PAIRRATE_STORAGE_CACHE_BYTES", str(20 * 1024**3)))
# How long a storage call rides out an unreachable store before the task fails (and is retried).
PAIRRATE_STORAGE_RETRY_SECONDS = float(os.environ.get("PAIRRATE_STORAGE_RETRY_SECONDS", "120"))
# Largest bundle upload the import endpoint accepts (request body; refused by Content-Length
# before the body is read, and counted as it arrives).
PAIRRATE_MAX_UPLOAD_BYTES = int(os.environ.get("PAIRRATE_MAX_UPLOAD_BYTES", str(2 * 1024**3)))
# Archive limits, checked on the worker while it unpacks (docs/security.md).
PAIRRATE_ARCHIVE_MAX_MEMBERS = int(os.environ.get("PAIRRATE_ARCHIVE_MAX_MEMBERS", "200000"))
PAIRRATE_ARCHIVE_MAX_BYTES = int(os.environ.get("PAIRRATE_ARCHIVE_MAX_BYTES", str(32 * 1024**3)))
PAIRRATE_ARCHIVE_MAX_RATIO = float(os.environ.get("PAIRRATE_ARCHIVE_MAX_RATIO", "200"))
# Keep uploaded and unpacked bundles after their import ends (debugging only).
PAIRRATE_KEEP_IMPORT_FILES = env_bool("PAIRRATE_KEEP_IMPORT_FILES", False)
# URL schemes a remote media value may use (anything else must be a path inside media storage).
PAIRRATE_REMOTE_MEDIA_SCHEMES = env_list("PAIRRATE_REMOTE_MEDIA_SCHEMES", "http,https,s3")
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "annotation.api.authentication.TokenAuthentication",  # DRF's, with a lighter query
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "annotation.api.schema.AutoSchema",  # documents the error statuses
    "DEFAULT_PAGINATION_CLASS": "annotation.api.pagination.Pagination",  # limit <= 1000
    "PAGE_SIZE": 100,
    # JSON with size, nesting and number limits; every error as {"code", "detail", ...}.
    "DEFAULT_PARSER_CLASSES": [
        "annotation.api.parsers.LimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "annotation.api.errors.exception_handler",
    # Proxies in front of the web app that append to X-Forwarded-For (the failed-login limit
    # keys on the client address); unset: the whole header, or REMOTE_ADDR without one.
    "NUM_PROXIES": int(os.environ["PAIRRATE_NUM_PROXIES"]) if os.environ.get("PAIRRATE_NUM_PROXIES") else None,
}
# Failed logins (token endpoint, /login/, /admin/login/) allowed per window before refusal:
# per username at one client address, and per client address (docs/security.md).
PAIRRATE_LOGIN_FAILURES_PER_USER = os.environ.get("PAIRRATE_LOGIN_FAILURES_PER_USER", "10/15m")
PAIRRATE_LOGIN_FAILURES_PER_ADDRESS = os.environ.get("PAIRRATE_LOGIN_FAILURES_PER_ADDRESS", "50/15m")
# The cache holds the failed-login counters: with several web processes it must be shared
# (PAIRRATE_CACHE_URL=redis://host:6379/1); unset, each process counts on its own.
if os.environ.get("PAIRRATE_CACHE_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["PAIRRATE_CACHE_URL"],
        }
    }
SPECTACULAR_SETTINGS = {
    "TITLE": "pairrate API",
    "DESCRIPTION": "Import multimodal datasets, launch rating projects, rate pairs, export.",
    "VERSION": "0.1.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a `state` field with different choices: name each enum.
    "ENUM_NAME_OVERRIDES": {
        "ProjectStateEnum": "annotation.models.projects.Project.State",
        "PipelineStageStateEnum": "annotation.models.projects.PipelineStage.State",
        "ImportRunStateEnum": "annotation.models.datasets.ImportRun.State",
        "AssignmentStateEnum": "annotation.models.rating.Assignment.State",
        # Rating labels and modalities appear in many components (and other `label` fields exist).
        "LabelEnum": "annotation.models.rating.Label",
        "ModalityEnum": "annotation.models.datasets.MEDIA_MODALITIES",
        "PositiveLabelEnum": "annotation.insights.report.LABELS",  # good / good_or_partial
    },
}

# Celery. No CELERY_BROKER_URL means the embedded demo: tasks run in-process.
CELERY_TASK_ALWAYS_EAGER = not os.environ.get("CELERY_BROKER_URL")
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "memory://"
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_EAGER_PROPAGATES = True
# Redis re-delivers a task whose worker died (acks_late) once it has been unacknowledged
# for visibility_timeout seconds; workers look for such tasks about every
# restore_interval x restore_throttle seconds.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("PAIRRATE_BROKER_VISIBILITY_TIMEOUT", "3600")),
    "unacked_restore_interval": int(os.environ.get("PAIRRATE_BROKER_RESTORE_INTERVAL", "10")),
    "unacked_restore_throttle": int(os.environ.get("PAIRRATE_BROKER_RESTORE_THROTTLE", "10")),
}
# Fault recovery (annotation/sweeper.py): running work beats a heartbeat every HEARTBEAT_INTERVAL
# seconds; every worker sweeps every SWEEP_INTERVAL seconds and re-dispatches what has shown no
# heartbeat for STALL_TIMEOUT seconds (pending or running). State writes after an error retry
# STATE_WRITE_ATTEMPTS times (about 30 s) while the database comes back.
PAIRRATE_HEARTBEAT_INTERVAL = float(os.environ.get("PAIRRATE_HEARTBEAT_INTERVAL", "10"))
PAIRRATE_STALL_TIMEOUT = float(os.environ.get("PAIRRATE_STALL_TIMEOUT", "120"))
PAIRRATE_SWEEP_INTERVAL = float(os.environ.get("PAIRRATE_SWEEP_INTERVAL", "30"))
PAIRRATE_STATE_WRITE_ATTEMPTS = int(os.environ.get("PAIRRATE_STATE_WRITE_ATTEMPTS", "8"))

# sampling/ settings used by the pipeline's NSFW stage.
PAIRRATE_DETOXIFY_CHECKPOINT = os.environ.get("PAIRRATE_DETOXIFY_CHECKPOINT", "")
PAIRRATE_DETOXIFY_CONFIG_DIR = os.environ.get("PAIRRATE_DETOXIFY_CONFIG_DIR", "")

if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("PAIRRATE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("PAIRRATE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "pairrate.logging.JsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": os.environ.get("PAIRRATE_LOG_FORMAT", "plain" if DEBUG else "json"),
        },
    },
    "root": {"handlers": ["console"], "level": os.environ.get("PAIRRATE_LOG_LEVEL", "INFO")},
    "filters": {"database_outage": {"()": "pairrate.middleware.DatabaseOutageLogFilter"}},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "django.request": {"filters": ["database_outage"]}},
}

# Server folders an admin may import from by path, and where uploaded bundles unpack.
# Both must be visible to the workers (the shared volume in docker-compose).
PAIRRATE_UPLOAD_ROOT = Path(os.environ.get("PAIRRATE_UPLOAD_ROOT", VAR_DIR / "uploads"))
PAIRRATE_IMPORT_ROOTS = [Path(p) for p in env_list("PAIRRATE_IMPORT_ROOTS", str(VAR_DIR / "imports"))] + [
    PAIRRATE_UPLOAD_ROOT
]

# Media screening (annotation.screening, docs/formats.md "Screening").
PAIRRATE_SCREEN_AFTER_IMPORT = env_bool("PAIRRATE_SCREEN_AFTER_IMPORT", True)
PAIRRATE_SCREEN_PART_ITEMS = int(os.environ.get("PAIRRATE_SCREEN_PART_ITEMS", "200"))
PAIRRATE_SCREEN_FRAME_RATE_TOLERANCE = float(os.environ.get("PAIRRATE_SCREEN_FRAME_RATE_TOLERANCE", "0.1"))
PAIRRATE_SCREEN_MIN_POINTS = int(os.environ.get("PAIRRATE_SCREEN_MIN_POINTS", "16"))
# Optional explicit-media check while screening (open_nsfw, sampling/nsfw_media.py): off by
# default (about 3 images/s on 2 cores); on in the production recipe (docs/deploy.md).
PAIRRATE_SCREEN_EXPLICIT_MEDIA = env_bool("PAIRRATE_SCREEN_EXPLICIT_MEDIA", False)
PAIRRATE_SCREEN_EXPLICIT_THRESHOLD = float(os.environ.get("PAIRRATE_SCREEN_EXPLICIT_THRESHOLD", "0.8"))

# Embedding on the workers (annotation/embedding, docs/encoders.md): checkpoint folders must
# lie under one of these roots; parts are whole batches of at most PART_ROWS rows.
PAIRRATE_ENCODER_ROOTS = [Path(p) for p in env_list("PAIRRATE_ENCODER_ROOTS", str(VAR_DIR / "encoders"))]
PAIRRATE_EMBED_PART_ROWS = int(os.environ.get("PAIRRATE_EMBED_PART_ROWS", "4096"))
PAIRRATE_EMBED_BATCH = int(os.environ.get("PAIRRATE_EMBED_BATCH", "32"))
PAIRRATE_EMBED_THREADS = int(os.environ.get("PAIRRATE_EMBED_THREADS", "4"))
PAIRRATE_EMBED_DEVICE = os.environ.get("PAIRRATE_EMBED_DEVICE", "auto")

# Imported vector files are stored as shards of at most this many rows, so a task that reads
# some rows fetches (and caches) only the shards holding them (annotation/importing/vectors.py).
PAIRRATE_SHARD_ROWS = int(os.environ.get("PAIRRATE_SHARD_ROWS", "262144"))

# Retrieval groups (annotation.groups): a worker's peak memory is one caption chunk and
# one item chunk of vectors (plus their top-k), whatever the pool size.
PAIRRATE_GROUPS_CAPTION_CHUNK_ROWS = int(os.environ.get("PAIRRATE_GROUPS_CAPTION_CHUNK_ROWS", "65536"))
PAIRRATE_GROUPS_ITEM_CHUNK_ROWS = int(os.environ.get("PAIRRATE_GROUPS_ITEM_CHUNK_ROWS", "500000"))
