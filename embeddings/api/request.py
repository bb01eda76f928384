from __future__ import annotations

import math
from dataclasses import dataclass

from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, QueryDict
from django.http.multipartparser import MultiPartParserError
from django.utils.datastructures import MultiValueDict

from embeddings.api.errors import ApiError, invalid, not_provided
from embeddings.conf import EmbeddingsSettings
from embeddings.errors import InputTooLarge
from embeddings.services import TEXT_TRUNCATE_CHOICES, TextTruncate

FORM_FIELDS = (
    "model_name",
    "text",
    "text_truncate",
    "image_url",
    "audio_url",
    "audio_start_offset_sec",
)
FILE_FIELDS = ("image_file", "audio_file")
ACCEPTED_FIELDS = FORM_FIELDS + FILE_FIELDS
# Tokenising is linear in the text's length; anything longer than this is certainly over the limit.
MAX_TEXT_CHARACTERS = 100_000


@dataclass(frozen=True)
class MediaInput:
    url: str | None = None
    upload: UploadedFile[bytes] | None = None

    @property
    def label(self) -> dict[str, str]:
        if self.url is not None:
            return {"input_url": self.url}
        assert self.upload is not None
        return {"input_filename": self.upload.name or ""}


@dataclass(frozen=True, kw_only=True)
class EmbedRequest:
    model_name: str
    text: str | None
    text_truncate: TextTruncate
    image: MediaInput | None
    audio: MediaInput | None
    audio_start_offset_sec: float


FORM_CONTENT_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def read_form(request: HttpRequest) -> tuple[QueryDict, MultiValueDict[str, UploadedFile[bytes]]]:
    """The request's form fields and files, or a 4xx that says what is wrong with the body."""
    if request.content_type not in FORM_CONTENT_TYPES:
        raise invalid(
            f"Send the fields as {' or '.join(FORM_CONTENT_TYPES)}, not {request.content_type!r}."
        )
    try:
        return request.POST, request.FILES
    except RequestDataTooBig:
        raise ApiError(
            status=413, code="file_too_large", message="The form fields are too large."
        ) from None
    except (BadRequest, MultiPartParserError, SuspiciousOperation) as error:
        raise invalid(f"The request body is not a valid form: {error}") from None


def read_upload(upload: UploadedFile[bytes], *, max_bytes: int) -> bytes:
    if upload.size is not None and upload.size > max_bytes:
        raise InputTooLarge(f"the file is larger than {max_bytes} bytes.")
    data: bytes = upload.read()
    return data


def parse_embed_request(
    data: QueryDict, files: MultiValueDict[str, UploadedFile[bytes]]
) -> EmbedRequest:
    _refuse_unknown(data, files)
    model_name = _value(data, "model_name")
    if model_name is None:
        raise not_provided("model_name is required.")
    text = _value(data, "text")
    if text is not None and len(text) > MAX_TEXT_CHARACTERS:
        raise invalid(f"text is longer than {MAX_TEXT_CHARACTERS} characters.")
    request = EmbedRequest(
        model_name=model_name,
        text=text,
        text_truncate=_text_truncate(data),
        image=_media(data, files, "image"),
        audio=_media(data, files, "audio"),
        audio_start_offset_sec=_offset(data),
    )
    if request.text is None and request.image is None and request.audio is None:
        raise not_provided(
            "Provide at least one input: text, image_url or image_file, audio_url or audio_file."
        )
    return request


def _refuse_unknown(data: QueryDict, files: MultiValueDict[str, UploadedFile[bytes]]) -> None:
    for name in [*data.keys(), *files.keys()]:
        if name not in ACCEPTED_FIELDS:
            raise ApiError(
                status=400,
                code="parameter_unknown",
                message=f"Unknown parameter {name!r}. Accepted: {', '.join(ACCEPTED_FIELDS)}.",
            )
        if len(data.getlist(name)) + len(files.getlist(name)) > 1:
            raise invalid(f"{name} was sent more than once.")


def _value(data: QueryDict, name: str) -> str | None:
    value = data.get(name)
    # HTML forms and some clients send empty fields for inputs left out.
    return value if value else None


def _text_truncate(data: QueryDict) -> TextTruncate:
    value = _value(data, "text_truncate") or "end"
    if value not in TEXT_TRUNCATE_CHOICES:
        raise invalid(
            f"text_truncate must be one of {', '.join(TEXT_TRUNCATE_CHOICES)}; got {value!r}."
        )
    return value


def _media(
    data: QueryDict, files: MultiValueDict[str, UploadedFile[bytes]], modality: str
) -> MediaInput | None:
    url = _value(data, f"{modality}_url")
    upload = files.get(f"{modality}_file")
    if url is not None and upload is not None:
        raise invalid(f"Provide either {modality}_url or {modality}_file, not both.")
    if url is not None:
        return MediaInput(url=url)
    if upload is not None:
        return MediaInput(upload=upload)
    return None


def _offset(data: QueryDict) -> float:
    return seconds_field(_value(data, "audio_start_offset_sec"), "audio_start_offset_sec") or 0.0


def seconds_field(raw: str | None, name: str) -> float | None:
    """A form field that holds a time: None when it is not sent, else a finite number >= 0."""
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        raise invalid(f"{name} must be a number of seconds; got {raw!r}.") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise invalid(f"{name} must be a finite number >= 0; got {raw!r}.")
    return seconds


def check_model_name(name: str, *, config: EmbeddingsSettings) -> None:
    if name not in config.accepted_model_names:
        available = ", ".join(config.accepted_model_names)
        raise invalid(f"model_name {name!r} is not available. Available: {available}.")
