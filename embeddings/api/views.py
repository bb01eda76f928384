from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from embeddings.api.access import API_KEY_HEADER
from embeddings.api.endpoint import api_endpoint
from embeddings.api.errors import ApiError
from embeddings.api.fetch_slots import FetchSlots, FetchSlotsFull
from embeddings.api.openapi import openapi_document
from embeddings.api.request import (
    EmbedRequest,
    MediaInput,
    check_model_name,
    parse_embed_request,
    read_form,
    read_upload,
)
from embeddings.conf import EmbeddingsSettings, embeddings_settings
from embeddings.engine.registry import get_model
from embeddings.errors import InputError
from embeddings.fetch import fetch_url
from embeddings.services import (
    embed_clip,
    embed_images,
    embed_texts,
    prepare_audio,
    prepare_image,
    prepare_text,
)
from embeddings.spaces import configured_space

# A slot frees as soon as any running fetch ends, usually well within a second.
FETCH_RETRY_AFTER_SEC = 1
FETCH_SLOTS = FetchSlots()


@api_endpoint("POST")
def embed(request: HttpRequest) -> JsonResponse:
    config = embeddings_settings()
    embed_request = parse_embed_request(*read_form(request))
    check_model_name(embed_request.model_name, config=config)
    # The key is checked already; without keys every client shares the one empty key.
    key = request.headers.get(API_KEY_HEADER, "")
    return JsonResponse(_create_embeddings(embed_request, key=key, config=config))


@require_GET
def openapi(request: HttpRequest) -> JsonResponse:
    return JsonResponse(openapi_document(base_url=request.build_absolute_uri("/")))


def _create_embeddings(
    embed_request: EmbedRequest, *, key: str, config: EmbeddingsSettings
) -> dict[str, Any]:
    model = get_model()
    # Every input is read and checked before the model runs, so bad input costs no inference.
    text = image = clip = None
    if embed_request.text is not None:
        with input_field("text"):
            text = prepare_text(
                embed_request.text, truncate=embed_request.text_truncate, model=model, config=config
            )
    if embed_request.image is not None:
        image_bytes = read_media(embed_request.image, field="image", key=key, config=config)
        with input_field("image"):
            image = prepare_image(image_bytes, config=config)
    if embed_request.audio is not None:
        audio_bytes = read_media(embed_request.audio, field="audio", key=key, config=config)
        with input_field("audio"):
            clip = prepare_audio(
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
        (embedding,) = embed_images([image], model=model, space=configured_space())
        body["image_embedding"] = {
            "segments": [{"float": embedding.vector.tolist()}],
            "metadata": embed_request.image.label,
        }
    if clip is not None and embed_request.audio is not None:
        body["audio_embedding"] = {
            "segments": [
                {
                    "float": embedding.vector.tolist(),
                    "start_offset_sec": round(embedding.start_sec or 0.0, 3),
                    "end_offset_sec": round(embedding.end_sec or 0.0, 3),
                }
                for embedding in embed_clip(clip, model=model, config=config)
            ],
            "metadata": embed_request.audio.label,
        }
    return body


@contextmanager
def input_field(name: str) -> Iterator[None]:
    try:
        yield
    except InputError as error:
        raise ApiError.from_input_error(error, field=name) from error


def read_media(media: MediaInput, *, field: str, key: str, config: EmbeddingsSettings) -> bytes:
    if media.url is not None:
        release = _fetch_slot(key, config=config)
        with input_field(f"{field}_url"):
            return fetch_url(
                media.url,
                max_bytes=config.max_upload_bytes,
                allowlist=config.url_allowlist,
                timeout_sec=config.fetch_timeout_sec,
                max_redirects=config.fetch_max_redirects,
                on_done=release,
            ).content
    assert media.upload is not None
    with input_field(f"{field}_file"):
        return read_upload(media.upload, max_bytes=config.max_upload_bytes)


def _fetch_slot(key: str, *, config: EmbeddingsSettings) -> Callable[[], None]:
    # Refused at once rather than queued: a queued request would hold a server thread too.
    try:
        return FETCH_SLOTS.take(
            key,
            limit=config.fetch_max_concurrent,
            per_key_limit=config.fetch_max_concurrent_per_key,
        )
    except FetchSlotsFull as full:
        running = "with this key" if full.per_key else "on this server"
        raise ApiError(
            status=429,
            code="too_many_requests",
            message=f"{full.limit} URL fetches are already running {running}; "
            f"retry in {FETCH_RETRY_AFTER_SEC} s or send the file itself.",
            headers={"Retry-After": str(FETCH_RETRY_AFTER_SEC)},
        ) from None
