from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TypeVar, cast
from urllib.parse import urlsplit

from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, QueryDict
from django.utils.datastructures import MultiValueDict

from embeddings.api.errors import ApiError, invalid, not_provided
from embeddings.api.request import check_model_name, seconds_field
from embeddings.api.task_fields import (
    DEFAULT_PAGE_LIMIT,
    MAX_PAGE_LIMIT,
    TASK_INPUTS,
    TASK_STATUSES,
    V1_RETRIEVE_OPTIONS,
    V1_SCOPES,
)
from embeddings.api.v2_request import (
    INPUT_TYPES,
    MAX_SEGMENT_SEC,
    MIN_SEGMENT_SEC,
    TimedInput,
    parse_embed_v2_request,
    read_json,
)
from embeddings.conf import EmbeddingsSettings
from embeddings.engine.registry import get_model
from embeddings.errors import InputTooLarge
from embeddings.services import VideoOption
from embeddings.task_selectors import TaskFilters
from embeddings.task_services import TaskInputType, TaskMedia, TaskRequest, media_max_bytes

T = TypeVar("T")

MAX_URL_LENGTH = 2048
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

LIST_PARAMETERS = ("started_at", "ended_at", "status", "page", "page_limit")


def parse_v1_task_request(
    data: QueryDict, files: MultiValueDict[str, UploadedFile[bytes]], *, config: EmbeddingsSettings
) -> TaskRequest:
    """`POST /embed/tasks`: a multipart form, as TwelveLabs' SDK sends it."""
    _refuse_unknown_fields(data, files)
    url, upload = _form_value(data, "video_url"), files.get("video_file")
    if url is not None and upload is not None:
        raise invalid("Provide either video_url or video_file, not both.")
    if url is None and upload is None:
        raise not_provided("Provide video_url or video_file.")
    start_sec = seconds_field(_form_value(data, "video_start_offset_sec"), "video_start_offset_sec")
    end_sec = seconds_field(_form_value(data, "video_end_offset_sec"), "video_end_offset_sec")
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
        model_name=_model_name(data, config=config),
        media=_url_media(url) if url is not None else _upload_media(upload, config=config),
        start_sec=start_sec or 0.0,
        # TwelveLabs' v1 rule; v2 takes a span shorter than a clip as one shorter clip.
        end_sec=_checked_end(
            start_sec or 0.0, end_sec, min_span_sec=clip_sec, names=V1_OFFSET_NAMES
        ),
        clip_sec=clip_sec,
        options=("visual", "audio"),
        scopes=_unique(V1_SCOPES[scope] for scope in scopes),
    )


def parse_v2_task_request(request: HttpRequest, *, config: EmbeddingsSettings) -> TaskRequest:
    """`POST /embed-v2/tasks`: the synchronous `/embed-v2`'s JSON schema, for audio or video."""
    document = read_json(request, config=config)
    if document.get("input_type") in INPUT_TYPES and document["input_type"] not in TASK_INPUTS:
        raise invalid(
            f"input_type must be audio or video for an embedding task; got "
            f"{document['input_type']!r} (POST /v1.3/embed-v2 embeds it at once)."
        )
    parsed = parse_embed_v2_request(document, config=config)
    if parsed.embedding_dimension not in (None, get_model().dimension):
        raise invalid(
            f"embedding_dimension: this model's embeddings have {get_model().dimension} "
            "dimensions; leave it out or send that."
        )
    timed = cast(TimedInput, parsed.input)
    input_type = cast(TaskInputType, parsed.input_type)
    options: list[VideoOption] = []
    if "separate_embedding" in timed.types:
        options += timed.options  # transcription is refused by the parser
    if "fused_embedding" in timed.types:
        options.append("fused")
    default_clip_sec = config.video_clip_sec if input_type == "video" else config.audio_segment_sec
    source = timed.source
    return TaskRequest(
        api="v2",
        input_type=input_type,
        model_name=parsed.model_name,
        media=_url_media(source.url) if source.url is not None else _data_media(source.data),
        start_sec=timed.start_sec,
        end_sec=timed.end_sec,
        clip_sec=timed.segment_sec or default_clip_sec,
        options=tuple(options),
        scopes=timed.scopes,
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
    limit = _whole(data, "page_limit", default=DEFAULT_PAGE_LIMIT, maximum=MAX_PAGE_LIMIT)
    return filters, page, limit


def _refuse_unknown_fields(
    data: QueryDict, files: MultiValueDict[str, UploadedFile[bytes]]
) -> None:
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


def _form_value(data: QueryDict, name: str) -> str | None:
    value = data.get(name)
    return value if value else None  # clients send empty fields for inputs left out


def _model_name(data: QueryDict, *, config: EmbeddingsSettings) -> str:
    name = _form_value(data, "model_name")
    if name is None:
        raise not_provided("model_name is required.")
    check_model_name(name, config=config)
    return name


def _clip_length(raw: str | None, name: str) -> float | None:
    seconds = seconds_field(raw, name)
    if seconds is not None and not MIN_SEGMENT_SEC <= seconds <= MAX_SEGMENT_SEC:
        raise invalid(f"{name} must be from {MIN_SEGMENT_SEC} to {MAX_SEGMENT_SEC} s; got {raw!r}.")
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


def _data_media(data: bytes | None) -> TaskMedia:
    assert data is not None
    return TaskMedia(file=ContentFile(data))


def _upload_media(upload: UploadedFile[bytes] | None, *, config: EmbeddingsSettings) -> TaskMedia:
    assert upload is not None
    max_bytes = media_max_bytes("video", config=config)
    if upload.size is None or upload.size > max_bytes:
        raise _too_large("video_file", max_bytes)
    return TaskMedia(file=upload, filename=(upload.name or "")[:255])


def _too_large(field: str, max_bytes: int) -> ApiError:
    error = InputTooLarge(f"{field}: the file is larger than {max_bytes} bytes.")
    return ApiError(status=error.status, code=error.code, message=str(error))


def _unique(values: Iterable[T]) -> tuple[T, ...]:
    return tuple(dict.fromkeys(values))


def _timestamp(data: QueryDict, name: str) -> datetime | None:
    raw = _form_value(data, name)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw)
        if moment.tzinfo is None:
            raise invalid(f"{name} needs a time zone (Z or an offset); got {raw!r}.")
        # In UTC: PostgreSQL refuses offsets of 16 hours or more, which RFC 3339 allows.
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise invalid(f"{name} must be an RFC 3339 date and time; got {raw!r}.") from None


def _whole(data: QueryDict, name: str, *, default: int, maximum: int) -> int:
    raw = _form_value(data, name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise invalid(f"{name} must be a whole number from 1 to {maximum}; got {raw!r}.")
    return int(raw)
