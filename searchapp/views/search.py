from __future__ import annotations

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from embeddings.api.request import read_upload
from embeddings.conf import embeddings_settings
from embeddings.engine.base import ModelUnavailable
from embeddings.errors import InputError
from searchapp.errors import refusal, with_headers
from searchapp.forms import SearchForm
from searchapp.search import LibraryQuery, library_search
from searchapp.search_limits import search_refusal
from searchapp.selectors import SearchFilters
from searchapp.views.pages import (
    form_errors,
    message,
    model_banner,
    model_problem,
    search_allowed,
)


@require_GET
def search_page(request: HttpRequest) -> HttpResponse:
    if not search_allowed(request):
        return redirect_to_login(request.get_full_path())
    form = SearchForm(request.GET)
    context = {
        "form": form,
        "min_score_default": settings.SEARCH_MIN_SCORE,
        "query_audio_max_sec": settings.SEARCH_QUERY_AUDIO_MAX_SEC,
        "model_problem": model_banner(request),
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
    if not search_allowed(request):
        return HttpResponse("Sign in to search.", status=403)
    form = SearchForm(request.POST or request.GET, request.FILES or None)
    if not form.is_valid():
        return message(request, form_errors(form), status=400)
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
        return message(request, str(error), status=error.status)
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
        return {"results": None, "error": model_problem(request, str(error))}
    params = request.GET.copy() if request.method == "GET" else request.POST.copy()
    params.pop("page", None)
    params.pop("query_file", None)
    params.pop("csrfmiddlewaretoken", None)
    return {
        "results": results,
        "results_problem": model_problem(request, results.model_problem),
        "query": query,
        "next_page": query.page + 1 if results.page.has_more else None,
        "previous_page": query.page - 1 if query.page > 1 else None,
        "page_params": params.urlencode(),
        "from_file": file_bytes is not None,
        "file_name": file_name,
    }
