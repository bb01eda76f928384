"""A project that installs only the embeddings app (tests/embeddings/test_reusable_app.py):
INSTALLED_APPS and a URL include, no EMBEDDINGS_* setting but the model."""

from __future__ import annotations

import os

import dj_database_url

SECRET_KEY = "embeddings-only-tests"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django_tasks",
    "embeddings",
]
ROOT_URLCONF = "tests.embeddings_only.urls"
DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
ALLOWED_HOSTS = ["testserver"]
USE_TZ = True
EMBEDDINGS_MODEL = os.environ["EMBEDDINGS_MODEL"]
