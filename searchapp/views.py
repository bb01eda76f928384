from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.files.uploadedfile import UploadedFile
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from embeddings.api.request import read_upload
from embeddings.conf import embeddings_settings
from embeddings.engine.base import ModelUnavailable
from embeddings.engine.registry import model_status
from embeddings.errors import InputError
from searchapp.errors import refusal, with_headers
from searchapp.forms import SearchForm, TextNoteForm, UploadForm, split_tags
from searchapp.media_info import AUDIO_MIME_TYPES, IMAGE_MIME_TYPES
from searchapp.models import Item, Status
from searchapp.search import LibraryQuery, library_search
from searchapp.search_limits import search_refusal
from searchapp.search_space import search_model_key
from searchapp.selectors import SearchFilters, item_neighbours
from searchapp.services.items import ItemDetails, item_add_file, item_add_text

logger = logging.getLogger(__name__)

# Served inline: everything else is a download, so no upload can run in the site's origin.
INLINE_TYPES = {*IMAGE_MIME_TYPES.values(), *AUDIO_MIME_TYPES.values()}

# What visitors read when the model cannot load; staff read why and how to fix it (the log has it
# too), since that names the server's paths and the loader's errors.
MODEL_UNAVAILABLE_NOTICE = (
    "Search by meaning is off until an administrator fixes the model; the server's log says why."
)


def _search_allowed(request: HttpRequest) -> bool:
    return request.user.is_authenticated or not settings.SEARCH_REQUIRES_LOGIN


def _model_problem(request: HttpRequest, detail: str) -> str:
    if not detail or request.user.is_staff:
        return detail
    return MODEL_UNAVAILABLE_NOTICE


def _model_banner(request: HttpRequest) -> str:
    state, detail = model_status()
    return _model_problem(request, detail if state == "unavailable" else "")


@require_GET
def search_page(request: HttpRequest) -> HttpResponse:
    if not _search_allowed(request):
        return redirect_to_login(request.get_full_path())
    form = SearchForm(request.GET)
    context = {
        "form": form,
        "min_score_default": settings.SEARCH_MIN_SCORE,
        "query_audio_max_sec": settings.SEARCH_QUERY_AUDIO_MAX_SEC,
        "model_problem": _model_banner(request),
    }
    if form.is_valid() and _asks(form):
        refused = search_refusal(request, by_file=False)
        if refused is not None:
            response = render(
                request, "searchapp/search.html", context | {"error": refused.message}, status=429
            )
            return with_headers(response, refused.headers)
        context |= _results_context(request, form, file_bytes=None)
    return render(request, "searchapp/search.html", context)


@require_http_methods(["GET", "POST"])
def search_results(request: HttpRequest) -> HttpResponse:
    if not _search_allowed(request):
        return HttpResponse("Sign in to search.", status=403)
    form = SearchForm(request.POST or request.GET, request.FILES or None)
    if not form.is_valid():
        return _message(request, _form_errors(form), status=400)
    upload: UploadedFile | None = form.cleaned_data["query_file"]
    refused = search_refusal(request, by_file=upload is not None) if _asks(form) else None
    if refused is not None:
        return refusal(
            request,
            status=429,
            code="too_many_requests",
            message=refused.message,
            headers=refused.headers,
        )
    try:
        file_bytes = (
            read_upload(upload, max_bytes=embeddings_settings().max_upload_bytes)
            if upload is not None
            else None
        )
    except InputError as error:
        return _message(request, str(error), status=error.status)
    context = _results_context(
        request, form, file_bytes=file_bytes, file_name=upload.name if upload else ""
    )
    return render(request, "searchapp/_results.html", context)


def _asks(form: SearchForm) -> bool:
    data = form.cleaned_data
    return bool(data["q"] or data["item"] or data["query_file"])


def _results_context(
    request: HttpRequest, form: SearchForm, *, file_bytes: bytes | None, file_name: str = ""
) -> dict[str, object]:
    data = form.cleaned_data
    min_score = data["min_score"] if data["min_score"] is not None else settings.SEARCH_MIN_SCORE
    query = LibraryQuery(
        text=data["q"],
        file_bytes=file_bytes,
        item_id=data["item"],
        filters=SearchFilters(
            modality=data["modality"] or None, tag=data["tag"] or None, min_score=min_score
        ),
        page=data["page"] or 1,
        page_size=settings.SEARCH_PAGE_SIZE,
        semantic_only=data["semantic"],
    )
    if query.is_empty:
        return {"results": None}
    try:
        results = library_search(query)
    except InputError as error:
        return {"results": None, "error": str(error)}
    except ModelUnavailable as error:
        return {"results": None, "error": _model_problem(request, str(error))}
    params = request.GET.copy() if request.method == "GET" else request.POST.copy()
    params.pop("page", None)
    params.pop("query_file", None)
    params.pop("csrfmiddlewaretoken", None)
    return {
        "results": results,
        "results_problem": _model_problem(request, results.model_problem),
        "query": query,
        "next_page": query.page + 1 if results.page.has_more else None,
        "previous_page": query.page - 1 if query.page > 1 else None,
        "page_params": params.urlencode(),
        "from_file": file_bytes is not None,
        "file_name": file_name,
    }


def _message(request: HttpRequest, message: str, *, status: int) -> HttpResponse:
    return render(request, "searchapp/_message.html", {"message": message}, status=status)


def _form_errors(form: SearchForm | UploadForm | TextNoteForm) -> str:
    return "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())


@login_required
@require_GET
def upload_page(request: HttpRequest) -> HttpResponse:
    recent = Item.objects.filter(added_by=request.user)[:20]
    return render(
        request,
        "searchapp/upload.html",
        {"recent": recent, "note_form": TextNoteForm(), "model_problem": _model_banner(request)},
    )


@login_required
@require_POST
def upload_file(request: HttpRequest) -> HttpResponse:
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _message(request, _form_errors(form), status=400)
    upload: UploadedFile = form.cleaned_data["file"]
    details = ItemDetails(
        title=form.cleaned_data["title"],
        description=form.cleaned_data["description"],
        tags=split_tags(form.cleaned_data["tags"]),
    )
    try:
        item, created = item_add_file(
            data=read_upload(upload, max_bytes=embeddings_settings().max_upload_bytes),
            filename=upload.name or "upload",
            details=details,
            added_by_id=request.user.pk,
            can_open_hidden=request.user.is_staff,
        )
    except InputError as error:
        return _message(request, f"{upload.name}: {error}", status=error.status)
    return render(
        request,
        "searchapp/_item_row.html",
        {"item": item, "duplicate": not created},
        status=201 if created else 200,
    )


@login_required
@require_POST
def add_note(request: HttpRequest) -> HttpResponse:
    form = TextNoteForm(request.POST)
    if not form.is_valid():
        return _message(request, _form_errors(form), status=400)
    try:
        item, created = item_add_text(
            text=form.cleaned_data["text"],
            details=ItemDetails(
                title=form.cleaned_data["title"], tags=split_tags(form.cleaned_data["tags"])
            ),
            added_by_id=request.user.pk,
            can_open_hidden=request.user.is_staff,
        )
    except InputError as error:
        return _message(request, str(error), status=error.status)
    return render(
        request,
        "searchapp/_item_row.html",
        {"item": item, "duplicate": not created},
        status=201 if created else 200,
    )


def _visible_item(request: HttpRequest, pk: int) -> Item:
    item = get_object_or_404(Item, pk=pk)
    if item.hidden and not request.user.is_staff:
        raise Http404("No such item.")
    return item


@login_required
@require_GET
def item_row(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        item = _visible_item(request, pk)
    except Http404:
        # Hidden or deleted while its row was polling: the row goes, and so does the polling.
        return HttpResponseStopPolling()
    return render(request, "searchapp/_item_row.html", {"item": item})


@require_GET
def item_detail(request: HttpRequest, pk: int) -> HttpResponse:
    if not _search_allowed(request):
        return redirect_to_login(request.get_full_path())
    item = _visible_item(request, pk)
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
    if not _search_allowed(request):
        raise Http404("No such item.")
    item = _visible_item(request, pk)
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
