from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse

from embeddings.api.body_limit import body_refusal
from searchapp.errors import refusal
from searchapp.serving import CONTENT_TYPE_PROBLEM

HEADER = "Content-Security-Policy"
APP_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
# The admin's templates carry inline style attributes and <style> elements; scripts stay 'self'.
ADMIN_POLICY = f"{APP_POLICY}; style-src 'self' 'unsafe-inline'"


class ContentSecurityPolicyMiddleware:
    """A strict policy on every response that does not set its own (media sets a sandbox)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if HEADER not in response:
            response[HEADER] = ADMIN_POLICY if _in_the_admin(request) else APP_POLICY
        return response


def _in_the_admin(request: HttpRequest) -> bool:
    try:
        return request.path.startswith(reverse("admin:index"))
    except NoReverseMatch:  # an inference node (SERVER_ROLE=inference) has no admin
        return False


class RequestSizeLimitMiddleware:
    """Refuses a body over the cap by its Content-Length, before anything reads or spools it.

    A chunked body reaches here with a Content-Length when the server could read it
    (`searchapp.serving`); one that still has none cannot be read, and is refused (411) rather
    than seen as an empty form.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refused = body_refusal(request.META)
        if refused is not None:
            return refusal(request, status=refused.status, code=refused.code, message=str(refused))
        return self.get_response(request)


class UnreadableRequestMiddleware:
    """Refuses what the app cannot read, before anything parses it: a Content-Type set aside by
    `searchapp.serving.ReadableContentType`, and NUL in the path or a query parameter
    (PostgreSQL text cannot hold it; admin filters and searches passed it to queries: 500s)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problem = request.META.get(CONTENT_TYPE_PROBLEM)
        if problem is None and ("\x00" in request.path or _has_nul(request)):
            problem = "The address contains a NUL character (%00), which no parameter may hold."
        if problem is not None:
            return refusal(request, status=400, code="parameter_invalid", message=problem)
        return self.get_response(request)


def _has_nul(request: HttpRequest) -> bool:
    return any(
        "\x00" in name or any("\x00" in value for value in values)
        for name, values in request.GET.lists()
    )
