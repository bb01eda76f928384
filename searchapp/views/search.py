from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from urllib.parse import urlencode

from django.contrib.auth.views import redirect_to_login
from django.core.files.uploadedfile import UploadedFile
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST

from embeddings.api.request import read_upload
from embeddings.conf import embeddings_settings
from embeddings.engine.base import ModelUnavailable
from embeddings.errors import InputError
from searchapp import conf
from searchapp.browsing import (
    BrowseFilters,
    item_browse,
    library_is_empty,
    library_uploaders,
)
from searchapp.errors import with_headers
from searchapp.forms import QueryFileForm, SearchForm, Sort
from searchapp.models import QueryFile
from searchapp.replicas import reads_from_a_replica
from searchapp.search.library import library_search
from searchapp.search.limits import search_refusal
from searchapp.search.search_model import search_model_key
from searchapp.search.selectors import SearchHit
from searchapp.services.query_files import (
    query_file_add,
    query_file_find,
    query_file_media,
    query_file_preview,
)
from searchapp.views.pages import HtmxHttpRequest, model_banner, model_problem, search_allowed

# Sorted by date, results are the best this many matches above the cutoff, newest first.
DATE_SORTED_PAGES = 10
# The parameters a file search keeps from the form it was started from.
FILTERS = ("modality", "tag", "min_score", "semantic", "sort")


@require_GET
@reads_from_a_replica
def search_page(request: HtmxHttpRequest) -> HttpResponse:
    """The library: browsed newest first, or searched by words, a file (`qf`) or an item;
    the whole page, or for htmx its results (`_results.html`)."""
    if not search_allowed(request):
        return redirect_to_login(request.get_full_path())
    form = SearchForm(request.GET)
    if not form.is_valid():
        return _page(request, form, {"error": form.problem}, status=400)
    if not form.asks:
        return _page(request, form, _browse(form))
    refused = search_refusal(request, by_file=False)
    if refused is not None:
        return _page(request, form, {"error": refused.message}, status=429, headers=refused.headers)
    return _page(request, form, _search(request, form))


@require_POST
def search_file(request: HtmxHttpRequest) -> HttpResponse:
    """Keeps a dropped, pasted, picked or recorded file's vector under a new key and answers
    with the URL of its search: 201 with `Location` to the page's script, 303 to a browser."""
    if not search_allowed(request):
        return _refusal(request, "Sign in to search.", status=403)
    form = QueryFileForm(request.POST, request.FILES)
    if not form.is_valid():
        return _refusal(request, form.problem, status=400)
    refused = search_refusal(request, by_file=True)
    if refused is not None:
        return _refusal(request, refused.message, status=429, headers=refused.headers)
    upload: UploadedFile[bytes] = form.cleaned_data["query_file"]
    name = upload.name or "your file"
    try:
        data = read_upload(upload, max_bytes=embeddings_settings().max_upload_bytes)
        query_file = query_file_add(
            data=data, name=name, model_key=search_model_key(), words=form.cleaned_data["q"]
        )
    except InputError as error:
        return _refusal(request, f"{name} cannot be searched with: {error}", status=error.status)
    except ModelUnavailable as error:
        return _refusal(request, model_problem(request, str(error)), status=503)
    url = _file_search_url(query_file, form)
    if request.htmx:
        response = HttpResponse(status=201)
        response["Location"] = url
        return response
    return HttpResponseRedirect(url, status=303)


@require_GET
def search_file_preview(request: HttpRequest, key: str) -> HttpResponse:
    query_file = query_file_preview(key=key) if search_allowed(request) else None
    if query_file is None:
        raise Http404("No such file search.")
    response = HttpResponse(bytes(query_file.preview), content_type=query_file.preview_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return response


def _page(
    request: HtmxHttpRequest,
    form: SearchForm,
    results: dict[str, object],
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HttpResponse:
    partial = bool(
        request.htmx and not request.htmx.boosted and not request.htmx.history_restore_request
    )
    context = {"form": form, "partial": partial, **results}
    if not partial:
        context |= {
            "min_score_default": conf.SEARCH_MIN_SCORE.value(),
            "query_audio_max_sec": conf.SEARCH_QUERY_AUDIO_MAX_SEC.value(),
            "query_video_clip_sec": embeddings_settings().video_clip_sec,
            "model_problem": model_banner(request),
        }
    template = "searchapp/_results.html" if partial else "searchapp/search.html"
    response = render(request, template, context, status=status)
    # The same URL answers a whole page or its results: caches must tell them apart.
    patch_vary_headers(response, ["HX-Request"])
    return with_headers(response, headers or {})


def _refusal(
    request: HtmxHttpRequest, message: str, *, status: int, headers: Mapping[str, str] | None = None
) -> HttpResponse:
    if request.htmx:
        response = render(request, "searchapp/_message.html", {"message": message}, status=status)
        return with_headers(response, headers or {})
    return _page(request, SearchForm(), {"error": message}, status=status, headers=headers)


def _browse(form: SearchForm) -> dict[str, object]:
    data = form.cleaned_data
    page_number = data["page"] or 1
    page = item_browse(
        filters=BrowseFilters(
            modality=data["modality"] or None,
            tag=data["tag"] or None,
            added_by=data["by"] or None,
        ),
        offset=(page_number - 1) * conf.SEARCH_PAGE_SIZE.value(),
        limit=conf.SEARCH_PAGE_SIZE.value(),
    )
    return {
        "mode": "browse",
        **_paged(page.hits, page_number, has_more=page.has_more),
        "empty_library": not page.hits and library_is_empty(),
        "uploaders": library_uploaders(),
    }


def _search(request: HttpRequest, form: SearchForm) -> dict[str, object]:
    data = form.cleaned_data
    query_file = None
    if data["qf"] and not data["item"]:
        query_file = query_file_find(key=data["qf"], model_key=search_model_key())
        if query_file is None:
            return {"mode": "search", "error": _expired()}
    page_number = data["page"] or 1
    by_date = data["sort"] == Sort.NEWEST
    page_size = conf.SEARCH_PAGE_SIZE.value()
    query = form.query(
        text=query_file.words if query_file is not None else None,
        media=query_file_media(query_file) if query_file is not None else None,
        page=1 if by_date else page_number,
        page_size=page_size * DATE_SORTED_PAGES if by_date else page_size,
    )
    try:
        results = library_search(query)
    except InputError as error:
        return {"mode": "search", "error": str(error)}
    except ModelUnavailable as error:
        return {"mode": "search", "error": model_problem(request, str(error))}
    if data["item"] and results.query_item is None:
        return {"mode": "search", "error": "That item is not in the library (any more)."}
    hits, has_more = results.page.hits, results.page.has_more
    if by_date:
        start = (page_number - 1) * page_size
        newest = sorted(hits, key=_added, reverse=True)
        hits, has_more = newest[start : start + page_size], len(newest) > start + page_size
    return {
        "mode": "search",
        "results": results,
        "results_problem": model_problem(request, results.model_problem),
        "query_file": query_file,
        "min_score": data["min_score"],
        "by_date": by_date,
        "date_sorted_limit": page_size * DATE_SORTED_PAGES,
        **_paged(hits, page_number, has_more=has_more),
        "empty_library": not hits and library_is_empty(),
    }


def _expired() -> str:
    hours = conf.SEARCH_QUERY_FILE_TTL_SEC.value() / 3600
    return (
        f"This file search has expired (files searched with are kept for {hours:g} hours): "
        "search with the file again."
    )


def _paged(hits: list[SearchHit], page_number: int, *, has_more: bool) -> dict[str, object]:
    first_shown = (page_number - 1) * conf.SEARCH_PAGE_SIZE.value() + 1
    return {
        "hits": hits,
        "page_number": page_number,
        "first_shown": first_shown,
        "last_shown": first_shown + len(hits) - 1,
        "next_page": page_number + 1 if has_more else None,
        "previous_page": page_number - 1 if page_number > 1 else None,
    }


def _added(hit: SearchHit) -> datetime:
    assert hit.item is not None  # item_search returns hits with their items
    return hit.item.created_at


def _file_search_url(query_file: QueryFile, form: SearchForm) -> str:
    kept = {name: form.data[name] for name in FILTERS if form.data.get(name)}
    return f"{reverse('search')}?{urlencode({'qf': query_file.key, **kept})}"
