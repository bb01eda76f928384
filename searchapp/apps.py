from __future__ import annotations

from django.apps import AppConfig


class SearchAppConfig(AppConfig):
    name = "searchapp"
    verbose_name = "Search library"
