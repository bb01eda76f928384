from __future__ import annotations

from django.apps import AppConfig


class SearchAppConfig(AppConfig):
    name = "searchapp"
    verbose_name = "Search library"

    def ready(self) -> None:
        from embeddings.api.openapi import extend_openapi_document
        from searchapp.openapi import add_library_api

        extend_openapi_document(add_library_api)
