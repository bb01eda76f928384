from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    DisallowedHost,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render

from embeddings.api.errors import ApiError, error_response
from searchapp.api import API_PATHS


def refusal(
    request: HttpRequest,
    *,
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> HttpResponse:
    """A refusal in the contract of the path: `{"code", "message"}` under the API's paths, a
    message fragment (which the pages' scripts put in place) elsewhere."""
    if request.path.startswith(API_PATHS):
        return error_response(ApiError(status=status, code=code, message=message, headers=headers))
    response = render(request, "searchapp/_message.html", {"message": message}, status=status)
    return with_headers(response, headers or {})


def with_headers(response: HttpResponse, headers: Mapping[str, str]) -> HttpResponse:
    for name, value in headers.items():
        response[name] = value
    return response


# Django's own handlers run the CSRF check, which reads the body again and raises again: these
# read nothing of the request but its path.


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The site's 400 handler: every request Django could not parse."""
    if isinstance(exception, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return refusal(
            request,
            status=413,
            code="file_too_large",
            message=f"The form fields are larger than {limit} bytes.",
        )
    return refusal(request, status=400, code="parameter_invalid", message=_reason(exception))


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _page_or_refusal(
        request,
        status=404,
        code="resource_not_exists",
        title="Not found",
        message=f"No such resource: {request.path}",
    )


def forbidden(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _page_or_refusal(
        request,
        status=403,
        code="access_denied",
        title="Not allowed",
        message=str(exception) or "You may not do this.",
    )


def _page_or_refusal(
    request: HttpRequest, *, status: int, code: str, title: str, message: str
) -> HttpResponse:
    """A page of the site's own for a browser's navigation; the refusal in the path's
    contract for the API and for the pages' own requests (htmx, scripts)."""
    if request.path.startswith(API_PATHS) or request.headers.get("HX-Request"):
        return refusal(request, status=status, code=code, message=message)
    context = {"status": status, "title": title, "message": message}
    return render(request, "searchapp/error.html", context, status=status)


def _reason(exception: Exception) -> str:
    if isinstance(exception, TooManyFieldsSent):
        return f"Too many fields: at most {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} are read."
    if isinstance(exception, TooManyFilesSent):
        return f"Too many files: at most {settings.DATA_UPLOAD_MAX_NUMBER_FILES} are read."
    if isinstance(exception, DisallowedHost):
        return "This server does not answer for that host name."
    if isinstance(exception, MultiPartParserError):
        return f"The multipart body cannot be read: {exception}"
    if isinstance(exception, BadRequest):
        # Django writes these for the client (for example: form bodies must be UTF-8).
        return str(exception)
    return "The request is malformed."
