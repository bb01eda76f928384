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
class VideoLimits:
    """What video is accepted, checked from the container's header, a pass over its packets and
    every decoded frame, so no file costs more decoding than these allow."""

    max_bytes: int
    # Counted from the file's start to the end of the part embedded: a start offset seeks to the
    # keyframe before it, but a file can have one keyframe, at its start.
    max_duration_sec: float
    max_frame_pixels: int
    # Native frames a second; decoding costs every native frame, whatever is sampled.
    max_frame_rate: float
    max_frames_per_clip: int
    # The audio track is held to the limits of an audio file.
    audio: AudioLimits


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
    video_limits: VideoLimits
    # Frames sampled a second of video, at most video_limits.max_frames_per_clip a clip.
    video_fps: float
    video_clip_sec: float
    # Tokens per video frame (the video processor's max_soft_tokens).
    video_frame_tokens: int
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
    def video_max_upload_bytes(self) -> int:
        return self.video_limits.max_bytes

    @property
    def accepted_model_names(self) -> tuple[str, ...]:
        return (self.model_name, *self.model_aliases)


# The image-token budgets the model's image and video processors take.
IMAGE_TOKEN_BUDGETS = (70, 140, 280, 560, 1120)
# TwelveLabs' fixed video segmentation takes clips of 2 to 10 seconds.
VIDEO_CLIP_SEC_RANGE = (2.0, 10.0)


def embeddings_settings() -> EmbeddingsSettings:
    image_tokens = settings.EMBEDDINGS_IMAGE_TOKENS
    if image_tokens is not None and image_tokens not in IMAGE_TOKEN_BUDGETS:
        raise ImproperlyConfigured(
            f"EMBEDDINGS_IMAGE_TOKENS is {image_tokens}; use one of "
            f"{', '.join(map(str, IMAGE_TOKEN_BUDGETS))}, or leave it unset for the model's own."
        )
    video_frame_tokens = settings.EMBEDDINGS_VIDEO_FRAME_TOKENS
    if video_frame_tokens not in IMAGE_TOKEN_BUDGETS:
        raise ImproperlyConfigured(
            f"EMBEDDINGS_VIDEO_FRAME_TOKENS is {video_frame_tokens}; use one of "
            f"{', '.join(map(str, IMAGE_TOKEN_BUDGETS))}."
        )
    clip_sec = settings.EMBEDDINGS_VIDEO_CLIP_SEC
    if not VIDEO_CLIP_SEC_RANGE[0] <= clip_sec <= VIDEO_CLIP_SEC_RANGE[1]:
        raise ImproperlyConfigured(
            f"EMBEDDINGS_VIDEO_CLIP_SEC is {clip_sec}; use {VIDEO_CLIP_SEC_RANGE[0]:g} to "
            f"{VIDEO_CLIP_SEC_RANGE[1]:g} seconds."
        )
    audio_limits = AudioLimits(
        min_sample_rate=settings.EMBEDDINGS_AUDIO_MIN_SAMPLE_RATE,
        max_sample_rate=settings.EMBEDDINGS_AUDIO_MAX_SAMPLE_RATE,
        max_channels=settings.EMBEDDINGS_AUDIO_MAX_CHANNELS,
        min_duration_sec=settings.EMBEDDINGS_AUDIO_MIN_DURATION_SEC,
        max_duration_sec=settings.EMBEDDINGS_AUDIO_MAX_DURATION_SEC,
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
        audio_limits=audio_limits,
        sync_audio_max_duration_sec=settings.EMBEDDINGS_SYNC_AUDIO_MAX_DURATION_SEC,
        sync_video_max_duration_sec=settings.EMBEDDINGS_SYNC_VIDEO_MAX_DURATION_SEC,
        image_max_pixels=settings.EMBEDDINGS_IMAGE_MAX_PIXELS,
        video_limits=VideoLimits(
            max_bytes=settings.EMBEDDINGS_VIDEO_MAX_UPLOAD_BYTES,
            max_duration_sec=settings.EMBEDDINGS_VIDEO_MAX_DURATION_SEC,
            max_frame_pixels=settings.EMBEDDINGS_VIDEO_MAX_FRAME_PIXELS,
            max_frame_rate=settings.EMBEDDINGS_VIDEO_MAX_FRAME_RATE,
            max_frames_per_clip=settings.EMBEDDINGS_VIDEO_MAX_FRAMES_PER_CLIP,
            audio=audio_limits,
        ),
        video_fps=settings.EMBEDDINGS_VIDEO_FPS,
        video_clip_sec=clip_sec,
        video_frame_tokens=video_frame_tokens,
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
