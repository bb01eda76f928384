from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, cast

from django.http import HttpRequest

from embeddings.api.errors import ApiError, invalid, not_provided
from embeddings.api.request import MAX_TEXT_CHARACTERS, check_model_name
from embeddings.conf import EmbeddingsSettings

InputType = Literal["text", "image", "text_image", "audio", "video", "multi_input"]
INPUT_TYPES: tuple[InputType, ...] = (
    "text",
    "image",
    "text_image",
    "audio",
    "video",
    "multi_input",
)
# What embedding_option may name and this server embeds: transcription is refused.
EmbeddingOption = Literal["visual", "audio"]
EmbeddingScope = Literal["clip", "asset"]
EmbeddingType = Literal["separate_embedding", "fused_embedding"]
MediaType = Literal["image", "video", "audio", "document"]

# TwelveLabs' own bounds: up to 10 media sources in one multi_input, fixed segments of 2 to 10 s.
MAX_MEDIA_SOURCES = 10
MIN_SEGMENT_SEC, MAX_SEGMENT_SEC = 2, 10
# Everything but the strings' contents (the structure, numbers, names): a request in this schema
# needs a few hundred bytes of it; beyond this, parsing could cost far more than the body's size
# (every `[]` or `0` is an object of its own) or nest deeper than the parser can go.
MAX_STRUCTURE_BYTES = 16 * 1024
# A string, or one left open at the end: every quote starts a match, so removing them all takes
# one pass, however the quotes and backslashes are arranged.
# A media source placed in multi_input's words: "a person wearing <@outfit>".
REFERENCE = re.compile(r"<@([^<>@\s]+)>")
STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)

TOP_FIELDS = (
    "input_type",
    "model_name",
    "auto_truncate",
    "embedding_uncertainty",
    "embedding_dimension",
    *INPUT_TYPES,
)
SOURCE_FIELDS = ("url", "base64_string", "asset_id")


@dataclass(frozen=True, kw_only=True)
class MediaSource:
    url: str | None = None
    data: bytes | None = None

    @property
    def label(self) -> dict[str, str]:
        return {"input_url": self.url} if self.url is not None else {}


@dataclass(frozen=True, kw_only=True)
class TextInput:
    text: str


@dataclass(frozen=True, kw_only=True)
class ImageInput:
    source: MediaSource
    text: str | None = None


@dataclass(frozen=True, kw_only=True)
class TimedInput:
    """Audio or video: the part from start_sec to end_sec, in fixed segments."""

    source: MediaSource
    start_sec: float
    end_sec: float | None
    segment_sec: float | None
    options: tuple[EmbeddingOption, ...]
    scopes: tuple[EmbeddingScope, ...]
    types: tuple[EmbeddingType, ...]


@dataclass(frozen=True, kw_only=True)
class NamedSource:
    name: str | None
    source: MediaSource


@dataclass(frozen=True, kw_only=True)
class MultiInput:
    text: str | None
    sources: tuple[NamedSource, ...]


Input = TextInput | ImageInput | TimedInput | MultiInput


@dataclass(frozen=True, kw_only=True)
class EmbedV2Request:
    input_type: InputType
    model_name: str
    auto_truncate: bool
    embedding_dimension: int | None
    input: Input


def max_body_bytes(config: EmbeddingsSettings) -> int:
    # One file of the largest size, base64-encoded, and room for the other fields.
    return 4 * math.ceil(config.max_upload_bytes / 3) + 1024 * 1024


def read_json(request: HttpRequest, *, config: EmbeddingsSettings) -> dict[str, Any]:
    """The body as a JSON object, its size and structure bounded before it is parsed."""
    if request.content_type != "application/json":
        raise invalid(f"Send the request as application/json, not {request.content_type!r}.")
    limit = max_body_bytes(config)
    if int(request.META.get("CONTENT_LENGTH") or 0) > limit:
        raise ApiError(
            status=413, code="file_too_large", message=f"The request is larger than {limit} bytes."
        )
    body = request.read()
    if len(STRING.sub(b"", body)) > MAX_STRUCTURE_BYTES:
        raise invalid(
            f"The JSON body has more than {MAX_STRUCTURE_BYTES} bytes outside its strings; "
            "this API's requests need far less."
        )
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise invalid(f"The request body is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise invalid("The request body must be a JSON object.")
    return document


def parse_embed_v2_request(
    document: Mapping[str, Any], *, config: EmbeddingsSettings
) -> EmbedV2Request:
    fields = _Object(document, path="", allowed=TOP_FIELDS)
    input_type = fields.choice("input_type", INPUT_TYPES, required=True)
    if fields.boolean("embedding_uncertainty"):
        raise invalid(
            "embedding_uncertainty: this model gives no per-dimension uncertainty; "
            "leave it out or set it to false."
        )
    for other in INPUT_TYPES:
        if other != input_type and fields.get(other) is not None:
            raise invalid(f"{other} was sent, but input_type is {input_type}; send {input_type}.")
    model_name = cast(str, fields.string("model_name", required=True))
    # Before any media is decoded.
    check_model_name(model_name, config=config)
    return EmbedV2Request(
        input_type=input_type,
        model_name=model_name,
        auto_truncate=fields.boolean("auto_truncate", default=True),
        embedding_dimension=fields.integer("embedding_dimension"),
        input=_INPUT_PARSERS[input_type](fields.object(input_type, required=True), config),
    )


class _Object:
    """A JSON object of the request: its fields by type, with the path in every message."""

    def __init__(self, value: Any, *, path: str, allowed: tuple[str, ...]) -> None:
        if not isinstance(value, dict):
            raise invalid(f"{path} must be an object.")
        for name in value:
            if name not in allowed:
                raise ApiError(
                    status=400,
                    code="parameter_unknown",
                    message=f"Unknown parameter {path}{name!r}. Accepted: {', '.join(allowed)}.",
                )
        self.value = value
        self.prefix = f"{path}." if path else ""

    def get(self, name: str, *, required: bool = False) -> Any:
        # The SDKs send null for an option left unset.
        value = self.value.get(name)
        if value is None and required:
            raise not_provided(f"{self.prefix}{name} is required.")
        return value

    def object(self, name: str, *, allowed: tuple[str, ...] = (), required: bool = False) -> Any:
        value = self.get(name, required=required)
        if value is None:
            return None
        return _Object(value, path=f"{self.prefix}{name}", allowed=allowed or FIELDS[name])

    def string(self, name: str, *, required: bool = False) -> str | None:
        value = self.get(name, required=required)
        if value is not None and not isinstance(value, str):
            raise invalid(f"{self.prefix}{name} must be a string.")
        return value

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self.string(name, required=required)
        if value is not None and len(value) > MAX_TEXT_CHARACTERS:
            raise invalid(f"{self.prefix}{name} is longer than {MAX_TEXT_CHARACTERS} characters.")
        return value

    def boolean(self, name: str, *, default: bool = False) -> bool:
        value = self.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise invalid(f"{self.prefix}{name} must be true or false.")
        return value

    def number(self, name: str) -> float | None:
        value = self.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise invalid(f"{self.prefix}{name} must be a number.")
        if not 0 <= value < math.inf:
            raise invalid(f"{self.prefix}{name} must be a finite number of seconds, 0 or more.")
        return float(value)

    def integer(self, name: str) -> int | None:
        value = self.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise invalid(f"{self.prefix}{name} must be an integer.")
        return value

    def choice(self, name: str, choices: tuple[str, ...], *, required: bool = False) -> Any:
        value = self.get(name, required=required)
        if value is not None and value not in choices:
            raise invalid(
                f"{self.prefix}{name} must be one of {', '.join(choices)}; got {value!r}."
            )
        return value

    def choices(self, name: str, choices: tuple[str, ...], *, default: tuple[str, ...]) -> Any:
        values = self.get(name)
        if values is None:
            return default
        if not isinstance(values, list) or not values:
            raise invalid(f"{self.prefix}{name} must be a non-empty list of {', '.join(choices)}.")
        for value in values:
            if value not in choices:
                raise invalid(
                    f"{self.prefix}{name} values must be among {', '.join(choices)}; got {value!r}."
                )
        return tuple(dict.fromkeys(values))

    def source(self, config: EmbeddingsSettings) -> MediaSource:
        """The media of this object's url, base64_string or asset_id: exactly one of them."""
        given = [name for name in SOURCE_FIELDS if self.get(name) is not None]
        if len(given) != 1:
            raise (invalid if given else not_provided)(
                f"{self.prefix.rstrip('.')}: provide exactly one of {', '.join(SOURCE_FIELDS)}."
            )
        if given == ["asset_id"]:
            raise invalid(
                f"{self.prefix}asset_id: this server keeps no uploaded assets; "
                "send url or base64_string."
            )
        if given == ["url"]:
            return MediaSource(url=self.string("url"))
        return MediaSource(data=self._base64(config))

    def _base64(self, config: EmbeddingsSettings) -> bytes:
        field = f"{self.prefix}base64_string"
        encoded = self.string("base64_string") or ""
        limit = config.max_upload_bytes
        # Checked on the encoded length, before decoding: 4 characters carry 3 bytes.
        if len(encoded) > 4 * math.ceil(limit / 3):
            raise ApiError(
                status=413,
                code="file_too_large",
                message=f"{field}: the file is larger than {limit} bytes.",
            )
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise invalid(f"{field} is not valid base64.") from None
        if not data:
            raise invalid(f"{field} is empty.")
        return data


def _text_input(fields: _Object, config: EmbeddingsSettings) -> TextInput:
    return TextInput(text=cast(str, fields.text("input_text", required=True)))


def _image_input(fields: _Object, config: EmbeddingsSettings) -> ImageInput:
    return ImageInput(source=fields.object("media_source", required=True).source(config))


def _text_image_input(fields: _Object, config: EmbeddingsSettings) -> ImageInput:
    return ImageInput(
        source=fields.object("media_source", required=True).source(config),
        text=cast(str, fields.text("input_text", required=True)),
    )


def _timed_input(fields: _Object, config: EmbeddingsSettings, *, video: bool) -> TimedInput:
    options: tuple[EmbeddingOption, ...] = ("visual", "audio") if video else ("audio",)
    chosen = fields.choices("embedding_option", (*options, "transcription"), default=options)
    if "transcription" in chosen:
        raise invalid(
            f"{fields.prefix}embedding_option: transcription needs a speech recogniser, and none "
            f"is configured on this server; use {' and '.join(options)}."
        )
    types = fields.choices(
        "embedding_type",
        ("separate_embedding", "fused_embedding"),
        default=("separate_embedding",),
    )
    if "fused_embedding" in types and len(chosen) < 2:
        raise invalid(
            f"{fields.prefix}embedding_type: fused_embedding combines two or more "
            "embedding_option values; this request has one."
        )
    start_sec = fields.number("start_sec") or 0.0
    end_sec = fields.number("end_sec")
    if end_sec is not None and end_sec <= start_sec:
        raise invalid(
            f"{fields.prefix}end_sec ({end_sec:g}) must be greater than start_sec ({start_sec:g})."
        )
    return TimedInput(
        source=fields.object("media_source", required=True).source(config),
        start_sec=start_sec,
        end_sec=end_sec,
        segment_sec=_segment_sec(fields.object("segmentation")),
        options=chosen,
        scopes=fields.choices("embedding_scope", ("clip", "asset"), default=("clip", "asset")),
        types=types,
    )


def _segment_sec(segmentation: _Object | None) -> float | None:
    if segmentation is None:
        return None
    path = segmentation.prefix
    strategy = segmentation.choice("strategy", ("fixed", "dynamic"), required=True)
    if strategy == "dynamic":
        raise invalid(
            f"{path}strategy: dynamic segmentation follows scene boundaries, which this server "
            "does not detect; use fixed."
        )
    duration = segmentation.object("fixed", required=True).integer("duration_sec")
    if duration is None or not MIN_SEGMENT_SEC <= duration <= MAX_SEGMENT_SEC:
        raise invalid(
            f"{path}fixed.duration_sec must be a whole number of seconds from {MIN_SEGMENT_SEC} "
            f"to {MAX_SEGMENT_SEC}."
        )
    return float(duration)


def _multi_input(fields: _Object, config: EmbeddingsSettings) -> MultiInput:
    listed = fields.get("media_sources")
    if listed is not None and not isinstance(listed, list):
        raise invalid("multi_input.media_sources must be a list.")
    if listed is not None and len(listed) > MAX_MEDIA_SOURCES:
        raise invalid(f"multi_input.media_sources holds more than {MAX_MEDIA_SOURCES} sources.")
    sources = tuple(
        _named_source(_Object(value, path=f"multi_input.media_sources[{index}]", allowed=_SOURCE))
        for index, value in enumerate(listed or [])
    )
    # Decoded only once every source is known to be an image, so a refusal costs no decoding.
    request = MultiInput(
        text=fields.text("input_text"),
        sources=tuple(
            NamedSource(name=name, source=source.source(config)) for name, source in sources
        ),
    )
    if request.text is None and not request.sources:
        raise not_provided("multi_input: provide input_text, media_sources or both.")
    names = [source.name for source in request.sources if source.name is not None]
    if len(names) != len(set(names)):
        raise invalid("multi_input.media_sources: each name must be unique.")
    named = REFERENCE.findall(request.text or "")
    for name in named:
        if name not in names:
            raise invalid(f"multi_input.input_text: <@{name}> names no media source.")
    if len(named) != len(set(named)):
        raise invalid("multi_input.input_text: each media source can be placed once.")
    return request


def _named_source(fields: _Object) -> tuple[str | None, _Object]:
    media_type = fields.choice("media_type", ("image", "video", "audio", "document"), required=True)
    if media_type != "image":
        raise invalid(
            f"{fields.prefix}media_type: this model composes images and words in one input; "
            f"{media_type} sources are not supported here (embed them with input_type "
            f"{'text' if media_type == 'document' else media_type})."
        )
    return fields.string("name"), fields


_SOURCE = ("name", "media_type", *SOURCE_FIELDS)
_TIMED = (
    "media_source",
    "start_sec",
    "end_sec",
    "segmentation",
    "embedding_option",
    "embedding_scope",
    "embedding_type",
)
FIELDS: dict[str, tuple[str, ...]] = {
    "text": ("input_text",),
    "image": ("media_source",),
    "text_image": ("media_source", "input_text"),
    "audio": _TIMED,
    "video": _TIMED,
    "multi_input": ("input_text", "media_sources"),
    "media_source": SOURCE_FIELDS,
    "segmentation": ("strategy", "fixed", "dynamic"),
    "fixed": ("duration_sec",),
}
_INPUT_PARSERS: dict[str, Callable[[_Object, EmbeddingsSettings], Input]] = {
    "text": _text_input,
    "image": _image_input,
    "text_image": _text_image_input,
    "audio": partial(_timed_input, video=False),
    "video": partial(_timed_input, video=True),
    "multi_input": _multi_input,
}
