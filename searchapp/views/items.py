from __future__ import annotations

import logging

from django.contrib.auth.views import redirect_to_login
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from searchapp.media_info import AUDIO_MIME_TYPES, IMAGE_MIME_TYPES
from searchapp.models import Status
from searchapp.search_space import search_model_key
from searchapp.selectors import item_neighbours
from searchapp.views.pages import search_allowed, visible_item

logger = logging.getLogger(__name__)

# Served inline: everything else is a download, so no upload can run in the site's origin.
INLINE_TYPES = {*IMAGE_MIME_TYPES.values(), *AUDIO_MIME_TYPES.values()}


@require_GET
def item_detail(request: HttpRequest, pk: int) -> HttpResponse:
    if not search_allowed(request):
        return redirect_to_login(request.get_full_path())
    item = visible_item(request, pk)
    neighbours = (
        item_neighbours(item=item, model_key=search_model_key())
        if item.status == Status.READY
        else []
    )
    return render(request, "searchapp/item.html", {"item": item, "neighbours": neighbours})


@require_GET
def item_media(request: HttpRequest, pk: int) -> FileResponse:
    return _serve(request, pk, thumbnail=False)


@require_GET
def item_thumbnail(request: HttpRequest, pk: int) -> FileResponse:
    return _serve(request, pk, thumbnail=True)


def _serve(request: HttpRequest, pk: int, *, thumbnail: bool) -> FileResponse:
    if not search_allowed(request):
        raise Http404("No such item.")
    item = visible_item(request, pk)
    field = item.thumbnail if thumbnail else item.file
    if not field:
        raise Http404("No file.")
    try:
        stream = field.open("rb")
    except FileNotFoundError:
        logger.error("The file %s of item %s is missing from storage", field.name, pk)
        raise Http404("No file.") from None
    content_type = "image/webp" if thumbnail else item.mime_type
    inline = content_type in INLINE_TYPES
    response = FileResponse(
        stream,
        content_type=content_type if inline else "application/octet-stream",
        as_attachment=not inline,
        filename=item.original_filename or None,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return response
