from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import reverse

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
            admin = request.path.startswith(reverse("admin:index"))
            response[HEADER] = ADMIN_POLICY if admin else APP_POLICY
        return response
