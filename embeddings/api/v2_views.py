from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.http import HttpRequest, JsonResponse
from PIL.Image import Image

from embeddings.api.access import API_KEY_HEADER
from embeddings.api.endpoint import api_endpoint
from embeddings.api.errors import ApiError, invalid
from embeddings.api.request import MediaInput
from embeddings.api.v2_request import (
    REFERENCE,
    EmbedV2Request,
    ImageInput,
    MediaSource,
    MultiInput,
    TextInput,
    TimedInput,
    parse_embed_v2_request,
    read_json,
)
from embeddings.api.views import input_field, read_media
from embeddings.conf import EmbeddingsSettings, embeddings_settings
from embeddings.engine.base import EmbeddingModel, Part
from embeddings.engine.registry import get_model
from embeddings.services import (
    Embedding,
    VideoOption,
    embed_clip,
    embed_parts,
    embed_video_file,
    mean_embedding,
    prepare_audio,
    prepare_image,
    prepare_video,
)
from embeddings.spaces import configured_space

Body = dict[str, Any]


def _sdk_413(view: Callable[[HttpRequest], JsonResponse]) -> Callable[[HttpRequest], JsonResponse]:
    """TwelveLabs' SDKs read a 413 from this endpoint as `{"error": {"code", "message"}}`: the
    refusal carries that beside the flat fields every other answer has."""

    @wraps(view)
    def wrapped(request: HttpRequest) -> JsonResponse:
        response = view(request)
        if response.status_code == 413:
            body = json.loads(response.content)
            response.content = json.dumps({**body, "error": body})
        return response

    return wrapped


@_sdk_413
@api_endpoint("POST")
def embed_v2(request: HttpRequest) -> JsonResponse:
    config = embeddings_settings()
    embed_request = parse_embed_v2_request(read_json(request, config=config), config=config)
    model = get_model()
    if embed_request.embedding_dimension not in (None, model.dimension):
        raise invalid(
            f"embedding_dimension: this model's embeddings have {model.dimension} dimensions, "
            "and it declares no shorter (Matryoshka) sizes; leave it out or send "
            f"{model.dimension}."
        )
    # The key is checked already; without keys every client shares the one empty key.
    media = _MediaReader(key=request.headers.get(API_KEY_HEADER, ""), config=config)
    return JsonResponse(_embed(embed_request, media=media, model=model, config=config))


class _MediaReader:
    def __init__(self, *, key: str, config: EmbeddingsSettings) -> None:
        self.key = key
        self.config = config

    def __call__(self, source: MediaSource, *, field: str) -> bytes:
        if source.data is not None:
            return source.data
        return read_media(MediaInput(url=source.url), field=field, key=self.key, config=self.config)


def _embed(
    embed_request: EmbedV2Request,
    *,
    media: _MediaReader,
    model: EmbeddingModel,
    config: EmbeddingsSettings,
) -> Body:
    words = _Words(auto_truncate=embed_request.auto_truncate, model=model, config=config)
    request_input = embed_request.input
    if isinstance(request_input, TextInput):
        parts: list[Part] = [words(request_input.text, field="text.input_text")]
        return _composed(parts, words=words, model=model, metadata=None)
    if isinstance(request_input, ImageInput):
        field = f"{embed_request.input_type}.media_source"
        image = _image(media(request_input.source, field=field), field=field, config=config)
        parts = [image]
        if request_input.text is not None:
            parts.append(words(request_input.text, field="text_image.input_text"))
        metadata = {"input_type": embed_request.input_type, **request_input.source.label}
        return _composed(parts, words=words, model=model, metadata=metadata)
    if isinstance(request_input, MultiInput):
        return _composed(
            _multi_input_parts(request_input, media=media, words=words, config=config),
            words=words,
            model=model,
            metadata={"input_type": "multi_input"},
        )
    if embed_request.input_type == "video":
        return _video(request_input, model=model, media=media, config=config)
    return _audio(request_input, model=model, media=media, config=config)


def _composed(
    parts: list[Part],
    *,
    words: _Words,
    model: EmbeddingModel,
    metadata: Body | None,
) -> Body:
    embedding = embed_parts(parts, model=model, space=configured_space())
    body: Body = {"data": [_data(embedding, option=None, scope=None)], "usage": words.usage()}
    if metadata is not None:
        body["metadata"] = {**metadata, "embedding_dimension": model.dimension}
    return body


def _multi_input_parts(
    request_input: MultiInput, *, media: _MediaReader, words: _Words, config: EmbeddingsSettings
) -> list[Part]:
    """The sources in order, then the words; a source the words name (`<@name>`) goes where
    it is named instead."""
    images: dict[str, Part] = {}
    unnamed: list[Part] = []
    for index, named in enumerate(request_input.sources):
        field = f"multi_input.media_sources[{index}]"
        image = _image(media(named.source, field=field), field=field, config=config)
        if named.name is None:
            unnamed.append(image)
        else:
            images[named.name] = image
    text_parts: list[Part] = []
    if request_input.text is not None:
        for index, piece in enumerate(REFERENCE.split(request_input.text)):
            if index % 2 == 0:
                if piece.strip():
                    text_parts.append(piece.strip())
                continue
            text_parts.append(images.pop(piece))
    parts = words.limit([*unnamed, *images.values(), *text_parts], field="multi_input.input_text")
    if not parts:
        raise invalid("multi_input: there is nothing to embed.")
    return parts


class _Words:
    """The request's words within the model's token limit: cut at the end (auto_truncate) or
    refused; counts what was embedded for `usage`."""

    def __init__(
        self, *, auto_truncate: bool, model: EmbeddingModel, config: EmbeddingsSettings
    ) -> None:
        self.auto_truncate = auto_truncate
        self.model = model
        self.limit_tokens = config.text_max_tokens
        self.tokens = 0
        self.truncated = False

    def __call__(self, text: str, *, field: str) -> str:
        (kept,) = self.limit([text], field=field)
        return cast(str, kept)

    def limit(self, parts: list[Part], *, field: str) -> list[Part]:
        texts = [part for part in parts if isinstance(part, str)]
        if any(not text.strip() for text in texts):
            raise invalid(f"{field} is empty.")
        total = sum(self.model.count_tokens(text) for text in texts)
        if total > self.limit_tokens and not self.auto_truncate:
            raise invalid(
                f"{field}: the text is {total} tokens long; the limit is {self.limit_tokens}. "
                "Shorten it, or set auto_truncate to true to cut it at the end."
            )
        self.truncated = self.truncated or total > self.limit_tokens
        kept: list[Part] = []
        budget = self.limit_tokens
        for part in parts:
            if isinstance(part, str):
                part = self.model.truncate_text(part, max_tokens=budget, side="end")
                counted = self.model.count_tokens(part)
                budget -= counted
                self.tokens += counted
                if not part:
                    continue
            kept.append(part)
        return kept

    def usage(self) -> Body:
        usage: Body = {
            "input_tokens": {"text": self.tokens} if self.tokens else {},
            "truncated": self.truncated,
        }
        if self.truncated:
            usage["truncation_reason"] = "model_context_window"
        return usage


def _image(data: bytes, *, field: str, config: EmbeddingsSettings) -> Image:
    with input_field(field):
        return prepare_image(data, config=config)


def _audio(
    request_input: TimedInput,
    *,
    media: _MediaReader,
    model: EmbeddingModel,
    config: EmbeddingsSettings,
) -> Body:
    field = "audio.media_source"
    limit = config.sync_audio_max_duration_sec
    start, end = request_input.start_sec, request_input.end_sec
    _check_span(request_input, input_type="audio", limit_sec=limit)
    data = media(request_input.source, field=field)
    with input_field(field):
        clip = prepare_audio(
            data,
            start_offset_sec=start,
            model=model,
            config=config,
            cut_at_sec=start + limit if end is None else end,
        )
        if clip.cut and end is None:
            raise _too_long("audio", limit_sec=limit)
        clips = embed_clip(
            clip,
            model=model,
            config=config,
            fixed_segment_sec=request_input.segment_sec or config.audio_segment_sec,
        )
    data_items = []
    if "clip" in request_input.scopes:
        data_items += [_data(embedding, option="audio", scope="clip") for embedding in clips]
    if "asset" in request_input.scopes:
        data_items.append(_data(mean_embedding(clips), option="audio", scope="asset"))
    return {
        "data": data_items,
        "metadata": _timed_metadata(
            request_input, input_type="audio", start_sec=clip.start_sec, end_sec=clip.end_sec
        )
        | {"embedding_dimension": model.dimension},
    }


def _video(
    request_input: TimedInput,
    *,
    media: _MediaReader,
    model: EmbeddingModel,
    config: EmbeddingsSettings,
) -> Body:
    field = "video.media_source"
    limit = config.sync_video_max_duration_sec
    _check_span(request_input, input_type="video", limit_sec=limit)
    data = media(request_input.source, field=field)
    clip_sec = request_input.segment_sec or config.video_clip_sec
    options: list[VideoOption] = []
    if "separate_embedding" in request_input.types:
        options += request_input.options
    if "fused_embedding" in request_input.types:
        options.append("fused")
    with input_field(field):
        video = prepare_video(
            data,
            start_sec=request_input.start_sec,
            end_sec=request_input.end_sec,
            model=model,
            config=config,
        )
        # Checked from the container before any frame is decoded.
        if video.duration_sec > limit:
            raise _too_long("video", limit_sec=limit)
        embeddings = embed_video_file(
            video,
            options=options,
            scopes=request_input.scopes,
            clip_sec=clip_sec,
            model=model,
            config=config,
            space=configured_space(),
        )
    return {
        "data": [
            _data(embedding, option=embedding.option, scope=embedding.scope)
            for embedding in embeddings
        ],
        "metadata": _timed_metadata(
            request_input, input_type="video", start_sec=video.start_sec, end_sec=video.end_sec
        )
        | {"clip_length": clip_sec, "embedding_dimension": model.dimension},
    }


def _check_span(request_input: TimedInput, *, input_type: str, limit_sec: float) -> None:
    start, end = request_input.start_sec, request_input.end_sec
    if end is not None and end - start > limit_sec:
        raise invalid(
            f"{input_type}: end_sec - start_sec is {end - start:g} s; one request embeds at most "
            f"{limit_sec:g} s (use the embed tasks for longer {input_type})."
        )


def _too_long(input_type: str, *, limit_sec: float) -> ApiError:
    return invalid(
        f"{input_type}: the {input_type} goes on for more than {limit_sec:g} s after start_sec; "
        f"one request embeds at most {limit_sec:g} s: set end_sec, or use the embed tasks."
    )


def _timed_metadata(
    request_input: TimedInput, *, input_type: str, start_sec: float, end_sec: float
) -> Body:
    return {
        "input_type": input_type,
        **request_input.source.label,
        "embedding_options": list(request_input.options),
        "embedding_scopes": list(request_input.scopes),
        "duration": round(end_sec - start_sec, 3),
        "start_offset_sec": round(start_sec, 3),
        "end_offset_sec": round(end_sec, 3),
    }


def _data(embedding: Embedding, *, option: str | None, scope: str | None) -> Body:
    return {
        "embedding": embedding.vector.tolist(),
        "embedding_option": option,
        "embedding_scope": scope,
        "start_sec": None if embedding.start_sec is None else round(embedding.start_sec, 3),
        "end_sec": None if embedding.end_sec is None else round(embedding.end_sec, 3),
    }
