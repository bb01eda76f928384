from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.files.uploadedfile import UploadedFile
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from embeddings.api.request import read_upload
from embeddings.conf import embeddings_settings
from embeddings.errors import InputError
from searchapp.forms import TextNoteForm, UploadForm, form_problem, split_tags
from searchapp.models import Item
from searchapp.services.items import ItemDetails, item_add_file, item_add_text
from searchapp.views.pages import AuthenticatedHttpRequest, message, model_banner, visible_item


@login_required
@require_GET
def upload_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    recent = Item.objects.filter(added_by=request.user)[:20]
    return render(
        request,
        "searchapp/upload.html",
        {"recent": recent, "note_form": TextNoteForm(), "model_problem": model_banner(request)},
    )


@login_required
@require_POST
def upload_file(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return message(request, form_problem(form), status=400)
    upload: UploadedFile[bytes] = form.cleaned_data["file"]
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
            added_by=request.user,
        )
    except InputError as error:
        return message(request, f"{upload.name}: {error}", status=error.status)
    return _added_row(request, item, created=created)


@login_required
@require_POST
def add_note(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = TextNoteForm(request.POST)
    if not form.is_valid():
        return message(request, form_problem(form), status=400)
    try:
        item, created = item_add_text(
            text=form.cleaned_data["text"],
            details=ItemDetails(
                title=form.cleaned_data["title"], tags=split_tags(form.cleaned_data["tags"])
            ),
            added_by=request.user,
        )
    except InputError as error:
        return message(request, str(error), status=error.status)
    return _added_row(request, item, created=created)


def _added_row(request: HttpRequest, item: Item, *, created: bool) -> HttpResponse:
    """The upload page's row of an item just added, or found already there."""
    return render(
        request,
        "searchapp/_item_row.html",
        {"item": item, "duplicate": not created},
        status=201 if created else 200,
    )


@login_required
@require_GET
def item_row(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        item = visible_item(request, pk)
    except Http404:
        # Hidden or deleted while its row was polling: the row goes, and so does the polling.
        return HttpResponseStopPolling()
    return render(request, "searchapp/_item_row.html", {"item": item})
