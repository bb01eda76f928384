from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import models
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html

from embeddings.errors import InputError
from searchapp import conf
from searchapp.browsing import embedding_model_keys, library_tags
from searchapp.models import Item, NearDuplicate
from searchapp.search.search_model import search_model_key
from searchapp.services.items import (
    ItemDetails,
    item_update_details,
    items_add_tag,
    items_delete,
    items_reembed,
    items_set_hidden,
)

MAX_LISTED_TAGS = 200


class TagFilter(admin.SimpleListFilter):
    title = "tag"
    parameter_name = "tag"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(tag, tag) for tag in library_tags(limit=MAX_LISTED_TAGS)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Item]) -> QuerySet[Item]:
        return queryset.filter(tags__contains=[self.value()]) if self.value() else queryset


class ModelFilter(admin.SimpleListFilter):
    title = "embedded with"
    parameter_name = "model"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(key, key) for key in embedding_model_keys()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Item]) -> QuerySet[Item]:
        return queryset.filter(embedded_with=self.value()) if self.value() else queryset


class NearDuplicateFilter(admin.SimpleListFilter):
    title = "near duplicates"
    parameter_name = "near_duplicates"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Has near duplicates"), ("no", "Has none")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Item]) -> QuerySet[Item]:
        if self.value() not in ("yes", "no"):
            return queryset
        pairs = NearDuplicate.objects.filter(
            model_key=search_model_key(), score__gte=conf.SEARCH_DUPLICATE_MIN_SCORE.value()
        )
        has = Exists(pairs.filter(item=OuterRef("pk"))) | Exists(pairs.filter(other=OuterRef("pk")))
        return queryset.filter(has if self.value() == "yes" else ~has)


# The change list shows a video as its poster; the change page plays it.
SMALL_PREVIEW = 72
EDITABLE_FIELDS = ["title", "description", "tags", "source_url", "hidden"]
# Shown on an item's admin page below the editable fields, not to be changed there.
SHOWN_FIELDS = [
    "modality",
    "original_filename",
    "mime_type",
    "size_bytes",
    "width",
    "height",
    "duration_sec",
    "status",
    "error_message",
    "embedded_with",
    "added_by",
    "created_at",
    "updated_at",
]


class AddTagForm(forms.Form):
    tag = forms.CharField(max_length=64)


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin[Item]):
    list_display = [
        "list_preview",
        "display_title",
        "modality",
        "status",
        "hidden",
        "tag_list",
        "created_at",
    ]
    list_display_links = ["display_title"]
    list_filter = ["modality", "status", "hidden", TagFilter, ModelFilter, NearDuplicateFilter]
    search_fields = ["title", "description", "original_filename", "text"]
    list_per_page = 50
    actions = ["hide", "show", "reembed", "add_tag", "delete_with_files"]
    fields = ["preview_large", *EDITABLE_FIELDS, *SHOWN_FIELDS]
    readonly_fields = ["preview_large", *SHOWN_FIELDS]
    # Django 5.2 warns that a scheme-less URL will mean https in 6.0; say so now.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        # The stock bulk delete leaves files behind; ours removes them.
        actions.pop("delete_selected", None)
        return actions

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="")
    def list_preview(self, item: Item) -> str:
        return self._preview(item, size=SMALL_PREVIEW)

    @admin.display(description="Preview")
    def preview_large(self, item: Item) -> str:
        return self._preview(item, size=360)

    def _preview(self, item: Item, *, size: int) -> str:
        if item.modality == "video" and item.file and size > SMALL_PREVIEW:
            return format_html(
                '<video controls preload="none" poster="{}" src="{}" style="max-width:{}px">'
                "</video>",
                reverse("item-thumbnail", args=[item.pk]) if item.thumbnail else "",
                reverse("item-media", args=[item.pk]),
                size,
            )
        if item.modality in ("image", "video") and item.thumbnail:
            url = reverse("item-thumbnail", args=[item.pk])
            return format_html(
                '<img src="{}" alt="" style="max-width:{}px;max-height:{}px;border-radius:4px">',
                url,
                size,
                size,
            )
        if item.modality == "audio" and item.file:
            url = reverse("item-media", args=[item.pk])
            return format_html(
                '<audio controls preload="none" src="{}" style="width:{}px"></audio>',
                url,
                max(size * 3, 220),
            )
        return item.text[:120] if item.modality == "text" else "—"

    @admin.display(description="Tags")
    def tag_list(self, item: Item) -> str:
        return ", ".join(item.tags)

    def save_model(self, request: HttpRequest, obj: Item, form: Any, change: bool) -> None:
        hidden_changed = "hidden" in form.changed_data
        details = ItemDetails(
            title=obj.title, description=obj.description, tags=obj.tags, source_url=obj.source_url
        )
        item_update_details(item=obj, details=details)
        if hidden_changed:
            items_set_hidden(items=Item.objects.filter(pk=obj.pk), hidden=obj.hidden)

    def delete_model(self, request: HttpRequest, obj: Item) -> None:
        items_delete(items=Item.objects.filter(pk=obj.pk))

    @admin.action(description="Hide selected items from search")
    def hide(self, request: HttpRequest, queryset: QuerySet[Item]) -> None:
        count = items_set_hidden(items=queryset, hidden=True)
        messages.success(request, f"Hid {count} items.")

    @admin.action(description="Show selected items in search")
    def show(self, request: HttpRequest, queryset: QuerySet[Item]) -> None:
        count = items_set_hidden(items=queryset, hidden=False)
        messages.success(request, f"Showed {count} items.")

    @admin.action(description="Re-embed selected items")
    def reembed(self, request: HttpRequest, queryset: QuerySet[Item]) -> None:
        count = items_reembed(items=queryset)
        messages.success(request, f"Queued {count} items for embedding.")

    @admin.action(description="Delete selected items and their files")
    def delete_with_files(self, request: HttpRequest, queryset: QuerySet[Item]) -> None:
        count = items_delete(items=queryset)
        messages.success(request, f"Deleted {count} items and their files.")

    @admin.action(description="Add a tag to selected items")
    def add_tag(self, request: HttpRequest, queryset: QuerySet[Item]) -> HttpResponse | None:
        if "apply" in request.POST:
            form = AddTagForm(request.POST)
            if form.is_valid():
                try:
                    count = items_add_tag(items=queryset, tag=form.cleaned_data["tag"])
                except InputError as error:
                    messages.error(request, str(error))
                    return None
                messages.success(
                    request, f"Tagged {count} items with “{form.cleaned_data['tag']}”."
                )
                return None
        else:
            form = AddTagForm()
        return render(
            request,
            "admin/searchapp/add_tag.html",
            {
                **self.admin_site.each_context(request),
                "form": form,
                "items": queryset,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "title": "Add a tag",
            },
        )
