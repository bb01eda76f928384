from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from embeddings.api.access import authenticate, check_rate_limit
from embeddings.api.errors import ApiError, error_response, invalid
from embeddings.conf import EmbeddingsSettings, embeddings_settings
from embeddings.engine.base import ModelUnavailable
from embeddings.errors import InputError

View = Callable[..., JsonResponse]


def api_endpoint(method: str) -> Callable[[View], View]:
    """A JSON API view: one method, a body size bound, the API key, the rate limit, and
    every refusal in the `{"code", "message"}` error contract."""

    def decorate(view: View) -> View:
        @csrf_exempt
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
            if request.method != method:
                response = error_response(
                    ApiError(status=405, code="method_not_allowed", message=f"Use {method}.")
                )
                response["Allow"] = method
                return response
            config = embeddings_settings()
            try:
                _refuse_oversized_body(request, config=config)
                headers = check_rate_limit(authenticate(request, config=config), config=config)
                response = view(request, *args, **kwargs)
            except ApiError as error:
                return error_response(error)
            except InputError as error:
                return error_response(
                    ApiError(status=error.status, code=error.code, message=str(error))
                )
            except ModelUnavailable as error:
                return error_response(
                    ApiError(status=503, code="model_unavailable", message=str(error))
                )
            for name, value in headers.items():
                response[name] = value
            return response

        return wrapped

    return decorate


def _refuse_oversized_body(request: HttpRequest, *, config: EmbeddingsSettings) -> None:
    # Two files of the maximum size and the form fields fit; anything larger is refused unread.
    limit = 2 * config.max_upload_bytes + 1024 * 1024
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise invalid("The Content-Length header is not a number.") from None
    if length > limit:
        raise ApiError(
            status=413, code="file_too_large", message=f"The request is larger than {limit} bytes."
        )
