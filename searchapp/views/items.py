from __future__ import annotations

import logging
from typing import Literal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from embeddings.errors import InputError
from searchapp.access import can_manage
from searchapp.byte_ranges import FileSlice, Unsatisfiable, requested_range
from searchapp.forms import ItemDetailsForm, form_problem, split_tags
from searchapp.media_info import AUDIO_MIME_TYPES, IMAGE_MIME_TYPES, VIDEO_MIME_TYPES
from searchapp.models import Item, Status
from searchapp.replicas import on_a_replica
from searchapp.search.search_model import search_model_key
from searchapp.search.selectors import item_neighbours, item_segment_starts
from searchapp.services.items import (
    ItemDetails,
    item_retry,
    item_update_details,
    items_delete,
    items_set_hidden,
)
from searchapp.views.pages import (
    HtmxHttpRequest,
    managed_item,
    message,
    search_allowed,
    visible_item,
)
from searchapp.views.viewer import seconds_param

logger = logging.getLogger(__name__)

# Served inline: everything else is a download, so no upload can run in the site's origin.
INLINE_TYPES = {*IMAGE_MIME_TYPES.values(), *AUDIO_MIME_TYPES.values(), *VIDEO_MIME_TYPES.values()}
Rendition = Literal["file", "thumbnail", "preview"]


@require_GET
def item_detail(request: HttpRequest, pk: int) -> HttpResponse:
    if not search_allowed(request):
        return redirect_to_login(request.get_full_path())
    item = visible_item(request, pk)
    return render(request, "searchapp/item.html", _page_context(request, item))


def _page_context(request: HttpRequest, item: Item) -> dict[str, object]:
    ready = item.status == Status.READY
    model_key = search_model_key() if ready else ""
    return {
        "item": item,
        "start_sec": seconds_param(request.GET.get("start", "")),
        "can_manage": can_manage(request.user, item),
        "details_form": ItemDetailsForm(
            initial={
                "title": item.title,
                "description": item.description,
                "tags": ", ".join(item.tags),
            }
        ),
        "segments": item_segment_starts(item=item, model_key=model_key)
        if ready and item.waveform
        else [],
        # The item itself comes from the primary (a link to a new item works at once); its
        # neighbours, a vector search, from a replica.
        "neighbours": on_a_replica(request, lambda: item_neighbours(item=item, model_key=model_key))
        if ready
        else [],
    }


@login_required
@require_POST
def edit_item(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    item = managed_item(request, pk)
    form = ItemDetailsForm(request.POST)
    if not form.is_valid():
        return message(request, form_problem(form), status=400)
    details = ItemDetails(
        title=form.cleaned_data["title"],
        description=form.cleaned_data["description"],
        tags=split_tags(form.cleaned_data["tags"]),
        source_url=item.source_url,
    )
    try:
        item_update_details(item=item, details=details)
    except InputError as error:
        return message(request, str(error), status=error.status)
    if request.htmx:
        context = _page_context(request, item) | {"saved": True}
        return render(request, "searchapp/_item_details.html", context)
    messages.success(request, "Saved.")
    return redirect("item", pk=item.pk)


@login_required
@require_POST
def hide_item(request: HttpRequest, pk: int) -> HttpResponse:
    item = managed_item(request, pk)
    by_owner = item.added_by_id == request.user.pk
    items_set_hidden(items=Item.objects.filter(pk=item.pk), hidden=True, by_owner=by_owner)
    messages.success(
        request,
        "Hidden: it no longer appears in search, and only "
        + ("you and staff" if by_owner else "staff")
        + " can open it.",
    )
    return redirect("item", pk=item.pk)


@login_required
@require_POST
def show_item(request: HttpRequest, pk: int) -> HttpResponse:
    item = managed_item(request, pk)
    items_set_hidden(items=Item.objects.filter(pk=item.pk), hidden=False)
    messages.success(request, "Shown: it appears in search again.")
    return redirect("item", pk=item.pk)


@login_required
@require_POST
def delete_item(request: HttpRequest, pk: int) -> HttpResponse:
    item = managed_item(request, pk)
    items_delete(items=Item.objects.filter(pk=item.pk))
    messages.success(request, f"Deleted “{item.display_title}” and its file.")
    return redirect("upload")


@login_required
@require_POST
def retry_item(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    item = managed_item(request, pk)
    retried = item_retry(item=item)
    item.refresh_from_db()
    if request.htmx:
        return render(request, "searchapp/_item_row.html", {"item": item})
    if retried:
        messages.success(request, "Queued again.")
    return redirect("item", pk=item.pk)


@require_GET
def item_media(request: HttpRequest, pk: int) -> HttpResponseBase:
    return _serve(request, pk, rendition="file")


@require_GET
def item_thumbnail(request: HttpRequest, pk: int) -> HttpResponseBase:
    return _serve(request, pk, rendition="thumbnail")


@require_GET
def item_preview(request: HttpRequest, pk: int) -> HttpResponseBase:
    return _serve(request, pk, rendition="preview")


def _serve(request: HttpRequest, pk: int, *, rendition: Rendition) -> HttpResponseBase:
    if not search_allowed(request):
        raise Http404("No such item.")
    item = visible_item(request, pk)
    field = getattr(item, rendition)
    if not field:
        raise Http404("No file.")
    try:
        stream = field.open("rb")
        size = field.size
    except FileNotFoundError:
        logger.error("The file %s of item %s is missing from storage", field.name, pk)
        raise Http404("No file.") from None
    try:
        byte_range = requested_range(request.headers.get("Range", ""), size=size)
    except Unsatisfiable as error:
        stream.close()
        refused = HttpResponse(status=416)
        refused["Content-Range"] = str(error)
        return refused
    content_type = item.mime_type if rendition == "file" else "image/webp"
    inline = content_type in INLINE_TYPES and "download" not in request.GET
    response = FileResponse(
        stream if byte_range is None else FileSlice(stream, start=byte_range[0], end=byte_range[1]),
        content_type=content_type if inline else "application/octet-stream",
        as_attachment=not inline,
        filename=item.original_filename,
    )
    if byte_range is not None:
        start, end = byte_range
        response.status_code = 206
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
    response["Accept-Ranges"] = "bytes"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return response
