from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from embeddings.engine.base import MODALITIES, Modality


@dataclass(frozen=True, kw_only=True)
class ModelSettings:
    source: str
    device: str
    dtype: str
    batch_size: int
    # Intra-op threads of the forward passes; 0 for this machine's physical cores.
    threads: int
    vision_runtime: str
    audio_runtime: str
    # Image tokens per image (None: the checkpoint's default); part of the vectors' identity,
    # and it decides the vision encoder's precision.
    image_tokens: int | None
    # What this process embeds; an encoder for a modality not listed is not loaded.
    modalities: frozenset[Modality]


@dataclass(frozen=True, kw_only=True)
class AudioLimits:
    """What audio is accepted, checked from the container's header and every decoded frame."""

    min_sample_rate: int
    max_sample_rate: int
    max_channels: int
    min_duration_sec: float
    # Counted from the file's start, whatever the offset, so no offset makes decoding longer.
    max_duration_sec: float


@dataclass(frozen=True, kw_only=True)
class EmbeddingsSettings:
    model: ModelSettings
    model_name: str
    model_aliases: tuple[str, ...]
    text_max_tokens: int
    audio_segment_sec: float
    audio_limits: AudioLimits
    # The longest part of a file one synchronous Embed API v2 request embeds.
    sync_audio_max_duration_sec: float
    sync_video_max_duration_sec: float
    image_max_pixels: int
    max_upload_bytes: int
    url_allowlist: tuple[str, ...]
    fetch_timeout_sec: float
    fetch_max_redirects: int
    fetch_max_concurrent: int
    fetch_max_concurrent_per_key: int
    require_api_key: bool
    rate_limit_per_minute: int
    task_retention: timedelta
    tasks_in_flight_per_key: int
    # How long a running task's hold lasts unrenewed before the worker's sweep runs it again.
    task_lease_sec: float

    @property
    def max_request_bytes(self) -> int:
        # Two files of the maximum size and the form fields fit.
        return 2 * self.max_upload_bytes + 1024 * 1024

    @property
    def accepted_model_names(self) -> tuple[str, ...]:
        return (self.model_name, *self.model_aliases)


# The image-token budgets the model's image processor takes.
IMAGE_TOKEN_BUDGETS = (70, 140, 280, 560, 1120)


def embeddings_settings() -> EmbeddingsSettings:
    image_tokens = settings.EMBEDDINGS_IMAGE_TOKENS
    if image_tokens is not None and image_tokens not in IMAGE_TOKEN_BUDGETS:
        raise ImproperlyConfigured(
            f"EMBEDDINGS_IMAGE_TOKENS is {image_tokens}; use one of "
            f"{', '.join(map(str, IMAGE_TOKEN_BUDGETS))}, or leave it unset for the model's own."
        )
    return EmbeddingsSettings(
        model=ModelSettings(
            source=settings.EMBEDDINGS_MODEL,
            device=settings.EMBEDDINGS_DEVICE,
            dtype=settings.EMBEDDINGS_DTYPE,
            batch_size=settings.EMBEDDINGS_BATCH_SIZE,
            threads=settings.EMBEDDINGS_THREADS,
            vision_runtime=settings.EMBEDDINGS_VISION_RUNTIME,
            audio_runtime=settings.EMBEDDINGS_AUDIO_RUNTIME,
            image_tokens=image_tokens,
            modalities=_modalities(settings.EMBEDDINGS_MODALITIES),
        ),
        model_name=settings.EMBEDDINGS_MODEL_NAME,
        model_aliases=tuple(settings.EMBEDDINGS_MODEL_ALIASES),
        text_max_tokens=settings.EMBEDDINGS_TEXT_MAX_TOKENS,
        audio_segment_sec=settings.EMBEDDINGS_AUDIO_SEGMENT_SEC,
        audio_limits=AudioLimits(
            min_sample_rate=settings.EMBEDDINGS_AUDIO_MIN_SAMPLE_RATE,
            max_sample_rate=settings.EMBEDDINGS_AUDIO_MAX_SAMPLE_RATE,
            max_channels=settings.EMBEDDINGS_AUDIO_MAX_CHANNELS,
            min_duration_sec=settings.EMBEDDINGS_AUDIO_MIN_DURATION_SEC,
            max_duration_sec=settings.EMBEDDINGS_AUDIO_MAX_DURATION_SEC,
        ),
        sync_audio_max_duration_sec=settings.EMBEDDINGS_SYNC_AUDIO_MAX_DURATION_SEC,
        sync_video_max_duration_sec=settings.EMBEDDINGS_SYNC_VIDEO_MAX_DURATION_SEC,
        image_max_pixels=settings.EMBEDDINGS_IMAGE_MAX_PIXELS,
        max_upload_bytes=settings.EMBEDDINGS_MAX_UPLOAD_BYTES,
        url_allowlist=tuple(settings.EMBEDDINGS_URL_ALLOWLIST),
        fetch_timeout_sec=settings.EMBEDDINGS_FETCH_TIMEOUT_SEC,
        fetch_max_redirects=settings.EMBEDDINGS_FETCH_MAX_REDIRECTS,
        fetch_max_concurrent=settings.EMBEDDINGS_FETCH_MAX_CONCURRENT,
        fetch_max_concurrent_per_key=settings.EMBEDDINGS_FETCH_MAX_CONCURRENT_PER_KEY,
        require_api_key=settings.EMBEDDINGS_REQUIRE_API_KEY,
        rate_limit_per_minute=settings.EMBEDDINGS_RATE_LIMIT_PER_MINUTE,
        task_retention=timedelta(days=settings.EMBEDDINGS_TASK_RETENTION_DAYS),
        tasks_in_flight_per_key=settings.EMBEDDINGS_TASKS_IN_FLIGHT_PER_KEY,
        task_lease_sec=settings.EMBEDDING_JOB_LEASE_SEC,
    )


def _modalities(names: list[str]) -> frozenset[Modality]:
    chosen = [name for name in MODALITIES if name in names]
    unknown = sorted(set(names) - set(chosen))
    if unknown:
        raise ImproperlyConfigured(
            f"EMBEDDINGS_MODALITIES names {', '.join(unknown)}; use {', '.join(MODALITIES)}."
        )
    # The language model makes every vector, so text is always embedded.
    return frozenset(("text", *chosen))
