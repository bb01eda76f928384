from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from embeddings.keys import api_key_revoke
from embeddings.models import ApiKey, EmbedTask


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin[ApiKey]):
    list_display = ["name", "lookup", "owner", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "lookup"]
    readonly_fields = ["lookup", "created_at", "last_used_at", "revoked_at"]
    fields = ["name", "owner", "lookup", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if not change:
            key, obj.lookup, obj.digest = ApiKey.generate()
            # For response_add only: a message would keep it in a cookie or the session.
            request.new_api_key = key  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)

    def response_add(
        self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None
    ) -> HttpResponse:
        """The new key, shown once (the admin's pages are never cached)."""
        return render(
            request,
            "admin/embeddings/apikey/created.html",
            {
                **self.admin_site.each_context(request),
                "title": "New API key",
                "api_key": obj,
                "key": request.new_api_key,  # type: ignore[attr-defined]
            },
        )

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for api_key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(api_key=api_key)
        messages.success(request, "Revoked.")


@admin.register(EmbedTask)
class EmbedTaskAdmin(admin.ModelAdmin[EmbedTask]):
    """Read-only: tasks belong to their API clients, and expire on their own."""

    list_display = ["id", "api", "input_type", "status", "api_key", "created_at", "updated_at"]
    list_filter = ["status", "api", "input_type"]
    search_fields = ["id", "input_url", "input_filename"]
    readonly_fields = [
        "id",
        "api",
        "api_key",
        "input_type",
        "model_name",
        "status",
        "input_url",
        "input_filename",
        "start_sec",
        "end_sec",
        "clip_sec",
        "options",
        "scopes",
        "duration_sec",
        "error_message",
        "segment_count",
        "created_at",
        "updated_at",
        "heartbeat_at",
        "lost_jobs",
    ]
    fields = [*readonly_fields]

    def get_queryset(self, request: HttpRequest) -> QuerySet[EmbedTask]:
        return super().get_queryset(request).annotate(segment_total=Count("segments"))

    @admin.display(description="segments", ordering="segment_total")
    def segment_count(self, task: EmbedTask) -> int:
        return task.segment_total  # type: ignore[attr-defined, no-any-return]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: EmbedTask | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: EmbedTask | None = None) -> bool:
        return False
