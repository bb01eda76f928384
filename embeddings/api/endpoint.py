from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from embeddings.api.access import authenticate, check_rate_limit
from embeddings.api.errors import ApiError, error_response
from embeddings.conf import embeddings_settings
from embeddings.engine.base import ModelUnavailable
from embeddings.errors import InputError

View = Callable[..., JsonResponse]


def api_endpoint(method: str) -> Callable[[View], View]:
    """A JSON API view: one method, the API key, the rate limit, and every refusal in the
    `{"code", "message"}` error contract. The project's RequestSizeLimitMiddleware bounds the
    body before anything reads it."""

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
