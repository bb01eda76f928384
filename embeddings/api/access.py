from __future__ import annotations

from django.http import HttpRequest

from embeddings.api.errors import ApiError
from embeddings.conf import EmbeddingsSettings
from embeddings.keys import api_key_find
from embeddings.models import ApiKey
from embeddings.ratelimit import rate_limit_consume

API_KEY_HEADER = "x-api-key"


def authenticate(request: HttpRequest, *, config: EmbeddingsSettings) -> ApiKey | None:
    key = request.headers.get(API_KEY_HEADER, "")
    if not key:
        if not config.require_api_key:
            return None
        raise ApiError(
            status=401,
            code="api_key_invalid",
            message=f"Send your API key in the {API_KEY_HEADER} header.",
        )
    api_key = api_key_find(key)
    if api_key is None:
        raise ApiError(
            status=401, code="api_key_invalid", message="The API key is invalid or was revoked."
        )
    return api_key


def check_rate_limit(api_key: ApiKey | None, *, config: EmbeddingsSettings) -> dict[str, str]:
    """Count the request; the rate-limit headers for the response, or 429 when over the limit."""
    limit = config.rate_limit_per_minute
    if api_key is None or limit <= 0:
        return {}
    count = rate_limit_consume(scope=f"api-key:{api_key.pk}", limit=limit)
    if count.exceeded:
        raise ApiError(
            status=429,
            code="too_many_requests",
            message=f"More than {limit} requests a minute with this key; "
            f"retry in {count.retry_after_sec} s.",
            headers=count.headers,
        )
    return count.headers
