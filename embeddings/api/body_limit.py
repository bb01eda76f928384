"""The bound on a request body, checked from its headers before anything reads it: the Embed
API's views check it themselves (`api_endpoint`), so the app is bounded in any project, and a
project can apply it to every path (searchapp.middleware.RequestSizeLimitMiddleware)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from embeddings.api.errors import ApiError
from embeddings.conf import embeddings_settings


def is_chunked(meta: Mapping[str, Any]) -> bool:
    """A body sent in chunks, with no Content-Length to say how long it is."""
    encodings = str(meta.get("HTTP_TRANSFER_ENCODING", "")).lower()
    return "chunked" in encodings and not meta.get("CONTENT_LENGTH")


def body_refusal(meta: Mapping[str, Any]) -> ApiError | None:
    """Why a request's body is refused (411, 400, 413), or None."""
    if is_chunked(meta):
        return ApiError(
            status=411,
            code="length_required",
            message="This server cannot read a body sent in chunks "
            "(Transfer-Encoding: chunked); send it with a Content-Length header.",
        )
    limit = embeddings_settings().max_request_bytes
    raw = str(meta.get("CONTENT_LENGTH") or "0")
    if not raw.isdigit():
        return ApiError(
            status=400,
            code="parameter_invalid",
            message=f"The Content-Length header ({raw[:20]!r}) is not a number of bytes.",
        )
    if int(raw) > limit:
        return ApiError(
            status=413,
            code="file_too_large",
            message=f"The request is larger than {limit} bytes.",
        )
    return None
