from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import reverse

from embeddings.api.access import API_KEY_HEADER
from embeddings.api.endpoint import api_endpoint
from embeddings.api.errors import ApiError, invalid, not_provided
from embeddings.api.request import read_form, read_upload
from embeddings.conf import embeddings_settings
from embeddings.errors import InputTooLarge
from searchapp.access import openable_items
from searchapp.forms import DEFAULT_API_LIMIT, ApiSearchForm, split_tags
from searchapp.models import Item
from searchapp.replicas import reads_from_a_replica
from searchapp.search.library import library_search
from searchapp.search.limits import search_refusal
from searchapp.search.selectors import SearchHit
from searchapp.services.items import ItemDetails, item_add_file, item_add_text

API_PATHS = ("/api/", "/v1.2/", "/v1.3/", "/inference/")


def item_json(request: HttpRequest, item: Item) -> dict[str, Any]:
    return {
        "id": item.pk,
        "modality": item.modality,
        "status": item.status,
        "error_message": item.error_message,
        "title": item.display_title,
        "description": item.description,
        "tags": item.tags,
        "original_filename": item.original_filename,
        "mime_type": item.mime_type,
        "size_bytes": item.size_bytes,
        "width": item.width,
        "height": item.height,
        "duration_sec": item.duration_sec,
        "text": item.text or None,
        "media_url": request.build_absolute_uri(reverse("item-media", args=[item.pk]))
        if item.file
        else None,
        "thumbnail_url": (
            request.build_absolute_uri(reverse("item-thumbnail", args=[item.pk]))
            if item.thumbnail
            else None
        ),
        "created_at": item.created_at.isoformat(),
    }


@api_endpoint("POST")
def items(request: HttpRequest) -> JsonResponse:
    data, files = read_form(request)
    details = ItemDetails(
        title=data.get("title", ""),
        description=data.get("description", ""),
        tags=split_tags(data.get("tags", "")),
    )
    upload = files.get("file")
    text = data.get("text", "")
    if upload is not None and text:
        raise invalid("Send either file or text, not both.")
    if upload is not None:
        try:
            content = read_upload(upload, max_bytes=embeddings_settings().max_upload_bytes)
        except InputTooLarge as error:
            raise InputTooLarge(f"file: {error}") from error
        item, created = item_add_file(
            data=content, filename=upload.name or "upload", details=details
        )
    elif text:
        item, created = item_add_text(text=text, details=details)
    else:
        raise not_provided("Send a file (multipart) or text.")
    return JsonResponse(
        {**item_json(request, item), "created": created}, status=201 if created else 200
    )


@api_endpoint("GET")
def item(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse(item_json(request, _openable_item(pk)))


def _openable_item(pk: int) -> Item:
    # A key names no person: hidden items are not there (searchapp/access.py).
    found = openable_items(None).filter(pk=pk).first()
    if found is None:
        raise ApiError(status=404, code="resource_not_exists", message=f"No item {pk}.")
    return found


@api_endpoint("POST")
@reads_from_a_replica
def search(request: HttpRequest) -> JsonResponse:
    data, files = read_form(request)
    if "image_file" in files and "audio_file" in files:
        raise invalid("Send image_file or audio_file, not both.")
    form = ApiSearchForm(dict(data.lists()))
    if not form.is_valid():
        raise invalid(form.problem)
    if form.cleaned_data["q"] and "audio_file" in files:
        raise invalid("text can refine an image_file, not an audio_file: send one of them.")
    upload = files.get("image_file") or files.get("audio_file")
    page = form.cleaned_data["page"] or 1
    query = form.query(
        file_bytes=(
            read_upload(upload, max_bytes=embeddings_settings().max_upload_bytes)
            if upload is not None
            else None
        ),
        page=page,
        page_size=form.cleaned_data["limit"] or DEFAULT_API_LIMIT,
    )
    if query.is_empty:
        raise not_provided("Send text, image_file, audio_file or item_id.")
    if query.item_id is not None:
        _openable_item(query.item_id)
    # With a key, the key's limit counted the request (api_endpoint).
    if not request.headers.get(API_KEY_HEADER):
        refused = search_refusal(request, by_file=query.file_bytes is not None)
        if refused is not None:
            raise ApiError(
                status=429,
                code="too_many_requests",
                message=refused.message,
                headers=refused.headers,
            )
    results = library_search(query)
    return JsonResponse(
        {
            "results": [_hit_json(request, hit) for hit in results.page.hits],
            "page": page,
            "has_more": results.page.has_more,
            "query_audio_seconds": results.query_audio_sec,
            "warning": results.model_problem or results.query_audio_note or None,
        }
    )


def _hit_json(request: HttpRequest, hit: SearchHit) -> dict[str, Any]:
    assert hit.item is not None
    return {
        **item_json(request, hit.item),
        "score": hit.score,
        "start_offset_sec": hit.start_sec,
        "end_offset_sec": hit.end_sec,
        "text_match": hit.text_match,
    }
