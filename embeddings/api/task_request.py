from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, QueryDict
from django.utils.datastructures import MultiValueDict

from embeddings.api.errors import ApiError, invalid, not_provided
from embeddings.conf import EmbeddingsSettings
from embeddings.errors import InputTooLarge
from embeddings.services import VideoOption, VideoScope
from embeddings.task_selectors import TaskFilters
from embeddings.task_services import TaskInputType, TaskMedia, TaskRequest, media_max_bytes

T = TypeVar("T")

MIN_CLIP_SEC, MAX_CLIP_SEC = 2, 10
MAX_URL_LENGTH = 2048
MAX_PAGE_LIMIT, DEFAULT_PAGE_LIMIT = 50, 10
TASK_STATUSES = ("processing", "ready", "failed")
TRANSCRIPTION_REFUSED = (
    "transcription needs a speech recogniser, which this server does not have; "
    "ask for visual or audio instead."
)

V1_FIELDS = (
    "model_name",
    "video_url",
    "video_start_offset_sec",
    "video_end_offset_sec",
    "video_clip_length",
    "video_embedding_scope",
)
V1_REPEATABLE = ("video_embedding_scope",)
V1_OFFSET_NAMES = ("video_start_offset_sec", "video_end_offset_sec")
# TwelveLabs' v1 scope "video" is the whole input: this project's "asset".
V1_SCOPES: dict[str, VideoScope] = {"clip": "clip", "video": "asset"}
# v1 tasks embed what a video holds; Marengo 2.7 called its visual vectors "visual-text".
V1_RETRIEVE_OPTIONS: dict[str, str] = {
    "visual": "visual",
    "visual-text": "visual",
    "audio": "audio",
}

V2_FIELDS = (
    "input_type",
    "model_name",
    "embedding_uncertainty",
    "embedding_dimension",
    "audio",
    "video",
    "document",
    "image",
)
V2_MEDIA_FIELDS = (
    "media_source",
    "start_sec",
    "end_sec",
    "segmentation",
    "embedding_option",
    "embedding_scope",
    "embedding_type",
)
V2_OPTIONS: dict[str, tuple[VideoOption, ...]] = {
    "video": ("visual", "audio"),
    "audio": ("audio",),
}
V2_SCOPES: dict[str, VideoScope] = {"clip": "clip", "local": "clip", "asset": "asset"}
EMBEDDING_TYPES = ("separate_embedding", "fused_embedding")
LIST_PARAMETERS = ("started_at", "ended_at", "status", "page", "page_limit")


def parse_v1_task_request(
    data: QueryDict, files: MultiValueDict[str, UploadedFile], *, config: EmbeddingsSettings
) -> TaskRequest:
    """`POST /embed/tasks`: a multipart form, as TwelveLabs' SDK sends it."""
    _refuse_unknown_fields(data, files)
    url, upload = _form_value(data, "video_url"), files.get("video_file")
    if url is not None and upload is not None:
        raise invalid("Provide either video_url or video_file, not both.")
    if url is None and upload is None:
        raise not_provided("Provide video_url or video_file.")
    start_sec = _seconds(_form_value(data, "video_start_offset_sec"), "video_start_offset_sec")
    end_sec = _seconds(_form_value(data, "video_end_offset_sec"), "video_end_offset_sec")
    clip_sec = (
        _clip_length(_form_value(data, "video_clip_length"), "video_clip_length")
        or config.video_clip_sec
    )
    scopes = [scope for scope in data.getlist("video_embedding_scope") if scope] or ["clip"]
    for scope in scopes:
        if scope not in V1_SCOPES:
            raise invalid(f"video_embedding_scope must be clip or video; got {scope!r}.")
    return TaskRequest(
        api="v1",
        input_type="video",
        model_name=_model_name(_form_value(data, "model_name"), config=config),
        media=_url_media(url) if url is not None else _upload_media(upload, config=config),
        start_sec=start_sec or 0.0,
        # TwelveLabs' v1 rule; v2 takes a span shorter than a clip as one shorter clip.
        end_sec=_checked_end(
            start_sec or 0.0, end_sec, min_span_sec=clip_sec, names=V1_OFFSET_NAMES
        ),
        clip_sec=clip_sec,
        options=V2_OPTIONS["video"],
        scopes=_unique(V1_SCOPES[scope] for scope in scopes),
    )


def parse_v2_task_request(request: HttpRequest, *, config: EmbeddingsSettings) -> TaskRequest:
    """`POST /embed-v2/tasks`: a JSON body with one audio or video input."""
    body = _json_object(request)
    _refuse_unknown(body, V2_FIELDS, where="")
    input_type = body.get("input_type")
    if input_type is None:
        raise not_provided("input_type is required: audio or video.")
    if input_type not in V2_OPTIONS:
        raise invalid(
            f"input_type must be audio or video for an embedding task; got {input_type!r}."
        )
    input_type = cast(TaskInputType, input_type)
    for other in ("audio", "video", "document", "image"):
        if other != input_type and body.get(other) is not None:
            raise invalid(f"{other} is set, but input_type is {input_type}.")
    if body.get("embedding_uncertainty"):
        raise invalid("embedding_uncertainty is not supported by this model.")
    if body.get("embedding_dimension") is not None:
        raise invalid("embedding_dimension is not supported: vectors have the model's dimension.")
    media = body.get(input_type)
    if media is None:
        raise not_provided(f"{input_type} is required when input_type is {input_type}.")
    media = _object(media, input_type)
    _refuse_unknown(media, V2_MEDIA_FIELDS, where=f"{input_type}.")
    start_sec = _seconds(media.get("start_sec"), f"{input_type}.start_sec")
    end_sec = _seconds(media.get("end_sec"), f"{input_type}.end_sec")
    default_clip_sec = config.video_clip_sec if input_type == "video" else config.audio_segment_sec
    clip_sec = (
        _segmentation(media.get("segmentation"), field=f"{input_type}.segmentation")
        or default_clip_sec
    )
    names = (f"{input_type}.start_sec", f"{input_type}.end_sec")
    return TaskRequest(
        api="v2",
        input_type=input_type,
        model_name=_model_name(body.get("model_name"), config=config),
        media=_media_source(media.get("media_source"), field=input_type, config=config),
        start_sec=start_sec or 0.0,
        end_sec=_checked_end(start_sec or 0.0, end_sec, min_span_sec=0.0, names=names),
        clip_sec=clip_sec,
        options=_v2_options(media, input_type=input_type),
        scopes=_v2_scopes(media.get("embedding_scope"), field=f"{input_type}.embedding_scope"),
    )


def parse_retrieve_options(data: QueryDict) -> tuple[str, ...] | None:
    """`GET /embed/tasks/{id}?embedding_option=...`; None for every option."""
    for name in data:
        if name != "embedding_option":
            raise _unknown(name, ("embedding_option",))
    values = [value for value in data.getlist("embedding_option") if value]
    if not values:
        return None
    for value in values:
        if value == "transcription":
            raise invalid(f"embedding_option: {TRANSCRIPTION_REFUSED}")
        if value not in V1_RETRIEVE_OPTIONS:
            choices = ", ".join(V1_RETRIEVE_OPTIONS)
            raise invalid(f"embedding_option must be among {choices}; got {value!r}.")
    return _unique(V1_RETRIEVE_OPTIONS[value] for value in values)


def parse_task_list(data: QueryDict) -> tuple[TaskFilters, int, int]:
    """The filters, page and page size of `GET /embed/tasks` and `GET /embed-v2/tasks`."""
    for name in data:
        if name not in LIST_PARAMETERS:
            raise _unknown(name, LIST_PARAMETERS)
    status = _form_value(data, "status")
    if status is not None and status not in TASK_STATUSES:
        raise invalid(f"status must be one of {', '.join(TASK_STATUSES)}; got {status!r}.")
    filters = TaskFilters(
        status=status,
        created_after=_timestamp(data, "started_at"),
        created_before=_timestamp(data, "ended_at"),
    )
    page = _whole(data, "page", default=1, maximum=1_000_000)
    return filters, page, _whole(data, "page_limit", default=DEFAULT_PAGE_LIMIT, maximum=50)


def _refuse_unknown_fields(data: QueryDict, files: MultiValueDict[str, UploadedFile]) -> None:
    accepted = (*V1_FIELDS, "video_file")
    for name in [*data.keys(), *files.keys()]:
        if name not in accepted:
            raise _unknown(name, accepted)
        if name not in V1_REPEATABLE and len(data.getlist(name)) + len(files.getlist(name)) > 1:
            raise invalid(f"{name} was sent more than once.")


def _unknown(name: str, accepted: tuple[str, ...]) -> ApiError:
    return ApiError(
        status=400,
        code="parameter_unknown",
        message=f"Unknown parameter {name!r}. Accepted: {', '.join(accepted)}.",
    )


def _refuse_unknown(body: Mapping[str, Any], accepted: tuple[str, ...], *, where: str) -> None:
    for name in body:
        if name not in accepted:
            raise _unknown(f"{where}{name}", tuple(f"{where}{field}" for field in accepted))


def _form_value(data: QueryDict, name: str) -> str | None:
    value = data.get(name)
    return value if value else None  # clients send empty fields for inputs left out


def _model_name(name: object, *, config: EmbeddingsSettings) -> str:
    if name is None or name == "":
        raise not_provided("model_name is required.")
    if name not in config.accepted_model_names:
        available = ", ".join(config.accepted_model_names)
        raise invalid(f"model_name {name!r} is not available. Available: {available}.")
    return cast(str, name)


def _seconds(raw: object, name: str) -> float | None:
    if raw is None:
        return None
    try:
        seconds = float(cast(Any, raw)) if not isinstance(raw, bool) else math.nan
    except (TypeError, ValueError):
        raise invalid(f"{name} must be a number of seconds; got {raw!r}.") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise invalid(f"{name} must be a finite number >= 0; got {raw!r}.")
    return seconds


def _clip_length(raw: object, name: str) -> float | None:
    seconds = _seconds(raw, name)
    if seconds is not None and not MIN_CLIP_SEC <= seconds <= MAX_CLIP_SEC:
        raise invalid(f"{name} must be from {MIN_CLIP_SEC} to {MAX_CLIP_SEC} s; got {raw!r}.")
    return seconds


def _checked_end(
    start_sec: float, end_sec: float | None, *, min_span_sec: float, names: tuple[str, str]
) -> float | None:
    if end_sec is None:
        return None
    if end_sec <= start_sec:
        raise invalid(f"{names[1]} must be greater than {names[0]}.")
    if end_sec - start_sec < min_span_sec:
        raise invalid(f"The span from {names[0]} to {names[1]} is shorter than one clip.")
    return end_sec


def _url_media(url: str) -> TaskMedia:
    # Only the form is checked here: the worker fetches it with every check of /embed's fetches.
    if len(url) > MAX_URL_LENGTH or urlsplit(url).scheme not in ("http", "https"):
        raise invalid(f"The URL must be http or https and at most {MAX_URL_LENGTH} characters.")
    return TaskMedia(url=url)


def _upload_media(upload: UploadedFile | None, *, config: EmbeddingsSettings) -> TaskMedia:
    assert upload is not None
    max_bytes = media_max_bytes("video", config=config)
    if upload.size is None or upload.size > max_bytes:
        raise _too_large("video_file", max_bytes)
    return TaskMedia(file=upload, filename=(upload.name or "")[:255])


def _too_large(field: str, max_bytes: int) -> ApiError:
    error = InputTooLarge(f"{field}: the file is larger than {max_bytes} bytes.")
    return ApiError(status=error.status, code=error.code, message=str(error))


def _json_object(request: HttpRequest) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise invalid(f"Send the task as application/json, not {request.content_type!r}.")
    try:
        body = json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise invalid(f"The request body is not valid JSON: {error}") from None
    return _object(body, "the request body")


def _object(value: object, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(f"{name} must be a JSON object.")
    return value


def _media_source(value: object, *, field: str, config: EmbeddingsSettings) -> TaskMedia:
    name = f"{field}.media_source"
    if value is None:
        raise not_provided(f"{name} is required: url or base64_string.")
    source = _object(value, name)
    _refuse_unknown(source, ("url", "base64_string", "asset_id"), where=f"{name}.")
    if source.get("asset_id") is not None:
        raise invalid(f"{name}.asset_id: this server has no assets; send url or base64_string.")
    url, encoded = source.get("url"), source.get("base64_string")
    if (url is None) == (encoded is None):
        raise invalid(f"{name} must have exactly one of url and base64_string.")
    if url is not None:
        if not isinstance(url, str):
            raise invalid(f"{name}.url must be a string.")
        return _url_media(url)
    if not isinstance(encoded, str):
        raise invalid(f"{name}.base64_string must be a string.")
    max_bytes = media_max_bytes(field, config=config)
    # Refused by its length before decoding: 4 characters carry 3 bytes.
    if len(encoded) > (max_bytes + 2) // 3 * 4:
        raise _too_large(f"{name}.base64_string", max_bytes)
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(f"{name}.base64_string is not valid base64.") from None
    return TaskMedia(file=ContentFile(data))


def _segmentation(value: object, *, field: str) -> int | None:
    if value is None:
        return None
    segmentation = _object(value, field)
    if segmentation.get("strategy") != "fixed" or set(segmentation) != {"strategy", "fixed"}:
        raise invalid(
            f'{field} must be {{"strategy": "fixed", "fixed": {{"duration_sec": N}}}}: '
            "only fixed segmentation is available."
        )
    fixed = _object(segmentation["fixed"], f"{field}.fixed")
    _refuse_unknown(fixed, ("duration_sec",), where=f"{field}.fixed.")
    duration = fixed.get("duration_sec")
    if (
        not isinstance(duration, int)
        or isinstance(duration, bool)
        or not MIN_CLIP_SEC <= duration <= MAX_CLIP_SEC
    ):
        raise invalid(
            f"{field}.fixed.duration_sec must be a whole number of seconds from {MIN_CLIP_SEC} "
            f"to {MAX_CLIP_SEC}; got {duration!r}."
        )
    return duration


def _strings(value: object, name: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise invalid(f"{name} must be a non-empty list of strings.")
    return value


def _v2_options(media: dict[str, Any], *, input_type: TaskInputType) -> tuple[VideoOption, ...]:
    available = V2_OPTIONS[input_type]
    name = f"{input_type}.embedding_option"
    raw = media.get("embedding_option")
    options = available if raw is None else _strings(raw, name)
    for option in options:
        if option == "transcription":
            raise invalid(f"{name}: {TRANSCRIPTION_REFUSED}")
        if option not in available:
            raise invalid(f"{name} must be among {', '.join(available)}; got {option!r}.")
    raw_types = media.get("embedding_type")
    types = ["separate_embedding"] if raw_types is None else _strings(raw_types, "embedding_type")
    for embedding_type in types:
        if embedding_type not in EMBEDDING_TYPES:
            raise invalid(
                f"{input_type}.embedding_type must be among {', '.join(EMBEDDING_TYPES)}; "
                f"got {embedding_type!r}."
            )
    chosen: list[VideoOption] = []
    if "separate_embedding" in types:
        chosen += cast(list[VideoOption], options)
    if "fused_embedding" in types:
        if set(options) != {"visual", "audio"}:
            raise invalid(
                f"{input_type}.embedding_type fused_embedding combines visual and audio: "
                "set embedding_option to both."
            )
        chosen.append("fused")
    return _unique(chosen)


def _v2_scopes(value: object, *, field: str) -> tuple[VideoScope, ...]:
    scopes = ["clip", "asset"] if value is None else _strings(value, field)
    for scope in scopes:
        if scope not in V2_SCOPES:
            raise invalid(f"{field} must be among {', '.join(V2_SCOPES)}; got {scope!r}.")
    return _unique(V2_SCOPES[scope] for scope in scopes)


def _unique(values: Iterable[T]) -> tuple[T, ...]:
    return tuple(dict.fromkeys(values))


def _timestamp(data: QueryDict, name: str) -> datetime | None:
    raw = _form_value(data, name)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise invalid(f"{name} must be an RFC 3339 date and time; got {raw!r}.") from None
    if moment.tzinfo is None:
        raise invalid(f"{name} needs a time zone (Z or an offset); got {raw!r}.")
    return moment


def _whole(data: QueryDict, name: str, *, default: int, maximum: int) -> int:
    raw = _form_value(data, name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise invalid(f"{name} must be a whole number from 1 to {maximum}; got {raw!r}.")
    return int(raw)
