from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django_htmx.middleware import HtmxDetails

from embeddings.engine.registry import model_status
from searchapp import conf
from searchapp.access import can_manage, can_open
from searchapp.models import Item

# What visitors read when the model cannot load; staff read why and how to fix it (the log has it
# too), since that names the server's paths and the loader's errors.
MODEL_UNAVAILABLE_NOTICE = (
    "Search by meaning is off until an administrator fixes the model; the server's log says why."
)


class HtmxHttpRequest(HttpRequest):
    """A request as HtmxMiddleware hands it on."""

    htmx: HtmxDetails


class AuthenticatedHttpRequest(HttpRequest):
    """A request to a view behind login_required."""

    user: User


def search_allowed(request: HttpRequest) -> bool:
    return request.user.is_authenticated or not conf.SEARCH_REQUIRES_LOGIN.value()


def model_problem(request: HttpRequest, detail: str) -> str:
    if not detail or request.user.is_staff:
        return detail
    return MODEL_UNAVAILABLE_NOTICE


def model_banner(request: HttpRequest) -> str:
    state, detail = model_status()
    return model_problem(request, detail if state == "unavailable" else "")


def message(request: HttpRequest, text: str, *, status: int) -> HttpResponse:
    return render(request, "searchapp/_message.html", {"message": text}, status=status)


def visible_item(request: HttpRequest, pk: int) -> Item:
    item = get_object_or_404(Item.objects.select_related("added_by"), pk=pk)
    if not can_open(request.user, item):
        raise Http404("No such item.")
    return item


def managed_item(request: HttpRequest, pk: int) -> Item:
    """The item, for its uploader or staff: 404 to whoever may not open it, 403 to others."""
    item = visible_item(request, pk)
    if not can_manage(request.user, item):
        raise PermissionDenied("Only the uploader or staff can change this item.")
    return item
