from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from weakref import WeakKeyDictionary

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from embeddings.api.access import authenticate, check_rate_limit
from embeddings.api.body_limit import body_refusal
from embeddings.api.errors import REFUSALS, ApiError, error_response, refusal_response
from embeddings.conf import embeddings_settings
from embeddings.models import ApiKey

View = Callable[..., JsonResponse]
_API_KEYS: WeakKeyDictionary[HttpRequest, ApiKey | None] = WeakKeyDictionary()


def request_api_key(request: HttpRequest) -> ApiKey | None:
    """The key an `api_endpoint` view's request was authenticated with (None without keys)."""
    return _API_KEYS[request]


def api_endpoint(*methods: str) -> Callable[[View], View]:
    """A JSON API view: the body's bound, checked before anything reads it, its methods, the
    API key (`request_api_key`), the rate limit, and every refusal in the `{"code", "message"}`
    error contract."""

    def decorate(view: View) -> View:
        @csrf_exempt
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
            refused = body_refusal(request.META)
            if refused is not None:
                return error_response(refused)
            if request.method not in methods:
                allowed = ", ".join(methods)
                response = error_response(
                    ApiError(status=405, code="method_not_allowed", message=f"Use {allowed}.")
                )
                response["Allow"] = allowed
                return response
            config = embeddings_settings()
            try:
                api_key = authenticate(request, config=config)
                headers = check_rate_limit(api_key, config=config)
                _API_KEYS[request] = api_key
                response = view(request, *args, **kwargs)
            except REFUSALS as error:
                return refusal_response(error)
            for name, value in headers.items():
                response[name] = value
            return response

        return wrapped

    return decorate
