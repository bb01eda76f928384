from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from embeddings.api.access import authenticate, check_rate_limit
from embeddings.api.errors import ApiError, error_response, invalid
from embeddings.api.openapi import openapi_document
from embeddings.api.request import EmbedRequest, MediaInput, parse_embed_request, read_form
from embeddings.conf import EmbeddingsSettings, embeddings_settings
from embeddings.engine.base import ModelUnavailable
from embeddings.engine.registry import get_model
from embeddings.errors import InputError, InputTooLarge
from embeddings.fetch import fetch_url
from embeddings.services import (
    embed_images,
    embed_segments,
    embed_texts,
    prepare_audio,
    prepare_image,
    prepare_text,
)


@csrf_exempt
def embed(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        response = error_response(
            ApiError(status=405, code="method_not_allowed", message="Use POST.")
        )
        response["Allow"] = "POST"
        return response
    config = embeddings_settings()
    try:
        _refuse_oversized_body(request, config=config)
        rate_headers = check_rate_limit(authenticate(request, config=config), config=config)
        embed_request = parse_embed_request(*read_form(request))
        _check_model_name(embed_request.model_name, config=config)
        response = JsonResponse(_create_embeddings(embed_request, config=config))
    except ApiError as error:
        return error_response(error)
    for name, value in rate_headers.items():
        response[name] = value
    return response


@require_GET
def openapi(request: HttpRequest) -> JsonResponse:
    return JsonResponse(openapi_document(base_url=request.build_absolute_uri("/")))


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


def _check_model_name(name: str, *, config: EmbeddingsSettings) -> None:
    if name not in config.accepted_model_names:
        available = ", ".join(config.accepted_model_names)
        raise invalid(f"model_name {name!r} is not available. Available: {available}.")


def _create_embeddings(
    embed_request: EmbedRequest, *, config: EmbeddingsSettings
) -> dict[str, Any]:
    try:
        model = get_model()
    except ModelUnavailable as error:
        raise ApiError(status=503, code="model_unavailable", message=str(error)) from error

    # Every input is read and checked before the model runs, so bad input costs no inference.
    text = image = segments = None
    if embed_request.text is not None:
        with _field("text"):
            text = prepare_text(
                embed_request.text, truncate=embed_request.text_truncate, model=model, config=config
            )
    if embed_request.image is not None:
        image_bytes = _read_media(embed_request.image, field="image", config=config)
        with _field("image"):
            image = prepare_image(image_bytes, config=config)
    if embed_request.audio is not None:
        audio_bytes = _read_media(embed_request.audio, field="audio", config=config)
        with _field("audio"):
            segments = prepare_audio(
                audio_bytes,
                start_offset_sec=embed_request.audio_start_offset_sec,
                model=model,
                config=config,
            )

    body: dict[str, Any] = {"model_name": embed_request.model_name}
    if text is not None:
        (embedding,) = embed_texts([text], model=model)
        body["text_embedding"] = {"segments": [{"float": embedding.vector.tolist()}]}
    if image is not None and embed_request.image is not None:
        (embedding,) = embed_images([image], model=model)
        body["image_embedding"] = {
            "segments": [{"float": embedding.vector.tolist()}],
            "metadata": embed_request.image.label,
        }
    if segments is not None and embed_request.audio is not None:
        body["audio_embedding"] = {
            "segments": [
                {
                    "float": embedding.vector.tolist(),
                    "start_offset_sec": round(embedding.start_sec or 0.0, 3),
                    "end_offset_sec": round(embedding.end_sec or 0.0, 3),
                }
                for embedding in embed_segments(segments, model=model)
            ],
            "metadata": embed_request.audio.label,
        }
    return body


@contextmanager
def _field(name: str) -> Iterator[None]:
    try:
        yield
    except InputError as error:
        raise ApiError.from_input_error(error, field=name) from error


def _read_media(media: MediaInput, *, field: str, config: EmbeddingsSettings) -> bytes:
    if media.url is not None:
        with _field(f"{field}_url"):
            return fetch_url(
                media.url,
                max_bytes=config.max_upload_bytes,
                allowlist=config.url_allowlist,
                timeout_sec=config.fetch_timeout_sec,
                max_redirects=config.fetch_max_redirects,
            ).content
    assert media.upload is not None
    with _field(f"{field}_file"):
        if media.upload.size is not None and media.upload.size > config.max_upload_bytes:
            raise InputTooLarge(f"the file is larger than {config.max_upload_bytes} bytes.")
        return media.upload.read()
