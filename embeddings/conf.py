from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Generic, TypeVar, cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from embeddings.engine.base import MODALITIES, Modality

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value not in _TRUE | _FALSE:
        raise ValueError(f"{raw!r} is not a boolean; use one of {sorted(_TRUE | _FALSE)}.")
    return value in _TRUE


def names(raw: str) -> tuple[str, ...]:
    """Comma-separated names; "," for none."""
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def whole_or_none(raw: str) -> int | None:
    return int(raw) or None


@dataclass(frozen=True, kw_only=True)
class Setting(Generic[T]):
    """One setting of an app, declared once: its name, which is also the environment variable
    a project reads it from (`from_environment`), its default, and what it means. The README's
    settings table is checked against these (tests/test_docs.py)."""

    name: str
    default: T
    parse: Callable[[str], T]
    meaning: str
    # How the README shows the default, where the value alone does not say it.
    shown_default: str = ""

    def value(self) -> T:
        """The project's value, or the default where the project sets none."""
        return cast(T, getattr(settings, self.name, self.default))

    def from_environment(self) -> T:
        """The environment variable's value; unset or blank is the default."""
        raw = os.environ.get(self.name, "")
        if not raw.strip():
            return self.default
        try:
            return self.parse(raw)
        except ValueError as error:
            raise ImproperlyConfigured(f"{self.name}={raw!r}: {error}") from None


def settings_from_environment(declared: Sequence[Setting[Any]]) -> dict[str, Any]:
    """What a project's settings module sets: each declared setting from the environment."""
    return {setting.name: setting.from_environment() for setting in declared}


MODEL = Setting(
    name="EMBEDDINGS_MODEL",
    default="google/embeddinggemma-2",
    parse=str,
    meaning="hub id or local model directory",
)

MODEL_NAME = Setting(
    name="EMBEDDINGS_MODEL_NAME",
    default="embeddinggemma-2",
    parse=str,
    meaning="the `model_name` clients send",
)

MODEL_ALIASES: Setting[tuple[str, ...]] = Setting(
    name="EMBEDDINGS_MODEL_ALIASES",
    default=("Marengo-retrieval-2.7", "marengo2.7", "marengo3.0", "Marengo-retrieval-3.0"),
    parse=names,
    meaning="other accepted names",
)

DEVICE = Setting(
    name="EMBEDDINGS_DEVICE",
    default="auto",
    parse=str,
    meaning="`auto`, `cpu`, `cuda`, `cuda:1`, `mps`",
)

DTYPE = Setting(
    name="EMBEDDINGS_DTYPE",
    default="auto",
    parse=str,
    meaning=(
        "`auto`, `float32`, `bfloat16`, `bfloat16-vision` (the vision encoder in bfloat16, "
        "the rest in float32), `bfloat16-towers` (the vision and audio encoders in bfloat16);"
        " `auto` is bfloat16 on GPUs that have it, `bfloat16-vision` on CPUs with native "
        "bfloat16 (AVX-512 BF16, AMX, Arm BF16) unless `EMBEDDINGS_IMAGE_TOKENS` is 70, "
        "float32 elsewhere"
    ),
)

BATCH_SIZE = Setting(
    name="EMBEDDINGS_BATCH_SIZE",
    default=16,
    parse=int,
    meaning=(
        "texts / audio segments per forward pass; also how many queued text items a worker "
        "embeds together"
    ),
)

THREADS = Setting(
    name="EMBEDDINGS_THREADS",
    default=0,
    parse=int,
    meaning="threads of each process's forward passes; `0` for the machine's physical cores",
)

VISION_RUNTIME = Setting(
    name="EMBEDDINGS_VISION_RUNTIME",
    default="auto",
    parse=str,
    meaning=(
        "`auto`, `torch`, `openvino`: what runs the vision encoder; `auto` is OpenVINO on "
        "x86-64 CPUs (exported once from the checkpoint, beside it or in the Hugging Face "
        "cache), torch elsewhere"
    ),
)

AUDIO_RUNTIME = Setting(
    name="EMBEDDINGS_AUDIO_RUNTIME",
    default="auto",
    parse=str,
    meaning=(
        "`auto`, `torch`, `openvino`: what runs the audio encoder's layers (its subsampling "
        "and mask stay in torch); OpenVINO runs them in float32, with "
        "`EMBEDDINGS_DTYPE=bfloat16-towers` too, because bfloat16 moved real sounds to cosine"
        " 0.95–0.97. `auto` is torch: on OpenVINO the full-size audio encoder took 0.72× the "
        "time for short sounds and 0.9–1.0× for 10 s segments, but the process held 2.3 GB "
        "more. `openvino` exports it once, beside the vision encoder's export"
    ),
)

IMAGE_TOKENS = Setting(
    name="EMBEDDINGS_IMAGE_TOKENS",
    default=None,
    parse=whole_or_none,
    shown_default="the model's (280)",
    meaning=(
        "tokens per image (video frames have `EMBEDDINGS_VIDEO_FRAME_TOKENS`): `70`, `140`, "
        "`280`, `560`, `1120`; fewer is faster and coarser (docs/performance.md). Changing it"
        " re-embeds the library's images in the background (`manage.py reembed`) while search"
        " keeps using the old vectors"
    ),
)

EMBEDDED_MODALITIES: Setting[tuple[str, ...]] = Setting(
    name="EMBEDDINGS_MODALITIES",
    default=("text", "image", "audio"),
    parse=names,
    meaning=(
        "what this process embeds: the image and audio encoders load only where listed (text "
        "always: the language model makes every vector). A process for text searches only "
        "(`text`) holds 1.4 GB instead of 4.8 GB at full size (docs/performance.md); image "
        "and sound inputs there get a 503 that says so"
    ),
)

BACKEND = Setting(
    name="EMBEDDINGS_BACKEND",
    default="local",
    parse=str,
    meaning=(
        "`local`: this process runs the model; `remote`: it sends every model call (searches, "
        "ingestion, the Embed API) to the inference nodes of `EMBEDDINGS_INFERENCE_URLS`, and "
        "loads no model; `twelvelabs`: the vectors are a hosted model's, asked of TwelveLabs' "
        "Embed API v2 at `EMBEDDINGS_REMOTE_URL` (docs/scaling.md)"
    ),
)

INFERENCE_URLS: Setting[tuple[str, ...]] = Setting(
    name="EMBEDDINGS_INFERENCE_URLS",
    default=(),
    parse=names,
    meaning=(
        "with `EMBEDDINGS_BACKEND=remote`: the inference nodes' base URLs, comma-separated "
        "(e.g. `http://inference-1:8000`), taken in turn; a node that fails is left out for "
        "30 s and its call goes to the next"
    ),
    shown_default="none",
)

INFERENCE_SECRET = Setting(
    name="EMBEDDINGS_INFERENCE_SECRET",
    default="",
    parse=str,
    meaning=(
        "the secret the tiers share: an inference node takes model calls only with it, and a "
        "`remote` process sends it; unset, a node takes none"
    ),
    shown_default="none",
)

INFERENCE_TIMEOUT_SEC = Setting(
    name="EMBEDDINGS_INFERENCE_TIMEOUT_SEC",
    default=300.0,
    parse=float,
    meaning=(
        "how long a `remote` process waits for an inference node's answer to one call (a "
        "worker's batch of images on a CPU node takes minutes) before it tries the next node;"
        " with `twelvelabs`, for the hosted API's answer to one input"
    ),
)

REMOTE_URL = Setting(
    name="EMBEDDINGS_REMOTE_URL",
    default="https://api.twelvelabs.io/v1.3",
    parse=str,
    meaning=(
        "with `EMBEDDINGS_BACKEND=twelvelabs`: the base URL of an Embed API v2 (`POST "
        "<url>/embed-v2`): TwelveLabs', or this project's own on another server"
    ),
)

REMOTE_API_KEY = Setting(
    name="EMBEDDINGS_REMOTE_API_KEY",
    default="",
    parse=str,
    meaning="the API key sent to `EMBEDDINGS_REMOTE_URL` (`x-api-key`)",
    shown_default="none",
)

REMOTE_MODEL = Setting(
    name="EMBEDDINGS_REMOTE_MODEL",
    default="marengo3.0",
    parse=str,
    meaning=(
        "the hosted model's `model_name`; its vectors are stored under `<model>@<url>`, and a "
        "change re-embeds the library in the background (`manage.py reembed`)"
    ),
)

WARM_UP = Setting(
    name="EMBEDDINGS_WARM_UP",
    default=True,
    parse=boolean,
    meaning=(
        "load the model and run one input of each modality, so the first search of each kind "
        "is not slow: a web server in the background on its first request (`make run` and "
        "Docker's health check send one at start), `manage.py worker` as it starts, before "
        "it takes a task (other task workers: in the background on their first task)"
    ),
)

TEXT_MAX_TOKENS = Setting(
    name="EMBEDDINGS_TEXT_MAX_TOKENS",
    default=77,
    parse=int,
    meaning="text token limit",
)

AUDIO_SEGMENT_SEC = Setting(
    name="EMBEDDINGS_AUDIO_SEGMENT_SEC",
    default=10.0,
    parse=float,
    meaning="target audio segment length",
)

AUDIO_MAX_DURATION_SEC = Setting(
    name="EMBEDDINGS_AUDIO_MAX_DURATION_SEC",
    default=3600.0,
    parse=float,
    meaning=(
        "longest audio accepted, counted from the file's start whatever "
        "`audio_start_offset_sec` is; decoding stops there, and an offset past it is refused "
        "without decoding"
    ),
)

SYNC_AUDIO_MAX_DURATION_SEC = Setting(
    name="EMBEDDINGS_SYNC_AUDIO_MAX_DURATION_SEC",
    default=600.0,
    parse=float,
    meaning=(
        "longest part of an audio file (`end_sec` − `start_sec`, or to the file's end) one "
        "`POST /embed-v2` request embeds, TwelveLabs' limit; decoding stops there"
    ),
)

SYNC_VIDEO_MAX_DURATION_SEC = Setting(
    name="EMBEDDINGS_SYNC_VIDEO_MAX_DURATION_SEC",
    default=30.0,
    parse=float,
    meaning="the same for video",
)

AUDIO_MIN_DURATION_SEC = Setting(
    name="EMBEDDINGS_AUDIO_MIN_DURATION_SEC",
    default=0.1,
    parse=float,
    meaning=(
        "shortest audio accepted (after the offset); below 10 ms the model sees no audio at "
        "all and below 8 ms it fails"
    ),
)

AUDIO_MIN_SAMPLE_RATE = Setting(
    name="EMBEDDINGS_AUDIO_MIN_SAMPLE_RATE",
    default=1000,
    parse=int,
    meaning="lowest sample rate accepted, from the file's header and every decoded frame",
)

AUDIO_MAX_SAMPLE_RATE = Setting(
    name="EMBEDDINGS_AUDIO_MAX_SAMPLE_RATE",
    default=384000,
    parse=int,
    meaning=(
        "highest sample rate accepted (resampling cost grows with it: a header claiming 1.6 "
        "GHz cost 1.6 GB)"
    ),
)

AUDIO_MAX_CHANNELS = Setting(
    name="EMBEDDINGS_AUDIO_MAX_CHANNELS",
    default=32,
    parse=int,
    meaning="most audio channels accepted",
)

IMAGE_MAX_PIXELS = Setting(
    name="EMBEDDINGS_IMAGE_MAX_PIXELS",
    default=50000000,
    parse=int,
    meaning="largest image accepted (width × height)",
)

VIDEO_MAX_UPLOAD_BYTES = Setting(
    name="EMBEDDINGS_VIDEO_MAX_UPLOAD_BYTES",
    default=209715200,
    parse=int,
    meaning=(
        "largest video file the Embed API accepts (tasks, v2); no request body passes the cap"
        " of twice `EMBEDDINGS_MAX_UPLOAD_BYTES` plus 1 MiB, and the library's upload page "
        "takes files up to `EMBEDDINGS_MAX_UPLOAD_BYTES`"
    ),
)

VIDEO_MAX_DURATION_SEC = Setting(
    name="EMBEDDINGS_VIDEO_MAX_DURATION_SEC",
    default=3600.0,
    parse=float,
    meaning=(
        "longest video accepted, counted from the file's start to the end offset (a start "
        "offset seeks to the keyframe before it, but a file can have one keyframe, at its "
        "start); a longer file can be embedded up to an end offset within it, but a file over"
        " 4 times this is refused"
    ),
)

VIDEO_MAX_FRAME_PIXELS = Setting(
    name="EMBEDDINGS_VIDEO_MAX_FRAME_PIXELS",
    default=8294400,
    parse=int,
    meaning=(
        "largest video frame accepted (width × height, 4K), from the header and every decoded frame"
    ),
)

VIDEO_MAX_FRAME_RATE = Setting(
    name="EMBEDDINGS_VIDEO_MAX_FRAME_RATE",
    default=120.0,
    parse=float,
    meaning=(
        "most native frames a second accepted, from the header and the packets counted (every"
        " native frame is decoded, whatever is sampled)"
    ),
)

VIDEO_MAX_FRAMES_PER_CLIP = Setting(
    name="EMBEDDINGS_VIDEO_MAX_FRAMES_PER_CLIP",
    default=32,
    parse=int,
    meaning=(
        "most frames a clip takes (the video processor's `max_frames`); a clip that would "
        "take more at `EMBEDDINGS_VIDEO_FPS` gets this many, evenly spread"
    ),
)

VIDEO_FPS = Setting(
    name="EMBEDDINGS_VIDEO_FPS",
    default=1.0,
    parse=float,
    meaning=(
        "video frames sampled a second (each sampled time takes the decoded frame nearest "
        "it); part of the video vectors' space when not 1"
    ),
)

VIDEO_CLIP_SEC = Setting(
    name="EMBEDDINGS_VIDEO_CLIP_SEC",
    default=6.0,
    parse=float,
    meaning=(
        "video clip length, 2 to 10 s (TwelveLabs' fixed segmentation: clips of this length "
        "from the start offset, the last one shorter)"
    ),
)

VIDEO_FRAME_TOKENS = Setting(
    name="EMBEDDINGS_VIDEO_FRAME_TOKENS",
    default=70,
    parse=int,
    meaning=(
        "tokens per video frame: `70`, `140`, `280`, `560`, `1120` (the video processor's "
        "`max_soft_tokens`); part of the video vectors' space when not 70"
    ),
)

MAX_UPLOAD_BYTES = Setting(
    name="EMBEDDINGS_MAX_UPLOAD_BYTES",
    default=104857600,
    parse=int,
    meaning=(
        "largest file or URL download; a request body over twice this plus 1 MiB is refused "
        "(413) by its Content-Length before it is read; a chunked body (no Content-Length) is"
        " read up to that cap under gunicorn (in memory up to 10 MB, then on disk) and "
        "refused past it, and a server that cannot read chunked bodies (runserver) answers "
        "411"
    ),
)

URL_ALLOWLIST: Setting[tuple[str, ...]] = Setting(
    name="EMBEDDINGS_URL_ALLOWLIST",
    default=(),
    parse=names,
    shown_default="empty",
    meaning=(
        "comma-separated hosts or CIDRs that URL fetching may reach although private or loopback"
    ),
)

FETCH_TIMEOUT_SEC = Setting(
    name="EMBEDDINGS_FETCH_TIMEOUT_SEC",
    default=20.0,
    parse=float,
    meaning="overall time limit of one URL fetch",
)

FETCH_MAX_REDIRECTS = Setting(
    name="EMBEDDINGS_FETCH_MAX_REDIRECTS",
    default=5,
    parse=int,
    meaning="redirects followed",
)

FETCH_MAX_CONCURRENT = Setting(
    name="EMBEDDINGS_FETCH_MAX_CONCURRENT",
    default=8,
    parse=int,
    meaning=(
        "URL fetches running at once in one web process (at most 16, its fetch threads); one "
        "more is answered 429 at once, so slow URLs never hold every server thread"
    ),
)

FETCH_MAX_CONCURRENT_PER_KEY = Setting(
    name="EMBEDDINGS_FETCH_MAX_CONCURRENT_PER_KEY",
    default=2,
    parse=int,
    meaning="the same per API key in one web process (without keys, all clients share one bound)",
)

REQUIRE_API_KEY = Setting(
    name="EMBEDDINGS_REQUIRE_API_KEY",
    default=True,
    parse=boolean,
    meaning="`false` opens the API without keys, for local use",
)

RATE_LIMIT_PER_MINUTE = Setting(
    name="EMBEDDINGS_RATE_LIMIT_PER_MINUTE",
    default=600,
    parse=int,
    meaning="requests a minute per key; `0` turns limiting off",
)

TASK_RETENTION_DAYS = Setting(
    name="EMBEDDINGS_TASK_RETENTION_DAYS",
    default=7.0,
    parse=float,
    meaning=(
        "how long an embedding task (`/embed/tasks`, `/embed-v2/tasks`) and its vectors are "
        "kept; older ones answer 404 and the worker purges them"
    ),
)

TASKS_IN_FLIGHT_PER_KEY = Setting(
    name="EMBEDDINGS_TASKS_IN_FLIGHT_PER_KEY",
    default=10,
    parse=int,
    meaning=(
        "unfinished embedding tasks one key may have (without keys, all clients share one "
        "bound); one more is answered 429. Each holds its stored file (up to the upload "
        "limit) and worker time"
    ),
)

JOB_LEASE_SEC = Setting(
    name="EMBEDDING_JOB_LEASE_SEC",
    default=45.0,
    parse=float,
    meaning=(
        "how long a job's hold on its items lasts unrenewed; a running job renews it nine "
        "times as often, however long it runs, and `manage.py worker` queues again the items "
        "whose hold ran out (their worker was killed or cut off from the database), so a "
        "restarted worker takes them up within about this long"
    ),
)

SETTINGS: tuple[Setting[Any], ...] = (
    MODEL,
    MODEL_NAME,
    MODEL_ALIASES,
    DEVICE,
    DTYPE,
    BATCH_SIZE,
    THREADS,
    BACKEND,
    INFERENCE_URLS,
    INFERENCE_SECRET,
    INFERENCE_TIMEOUT_SEC,
    REMOTE_URL,
    REMOTE_API_KEY,
    REMOTE_MODEL,
    VISION_RUNTIME,
    AUDIO_RUNTIME,
    IMAGE_TOKENS,
    EMBEDDED_MODALITIES,
    WARM_UP,
    TEXT_MAX_TOKENS,
    AUDIO_SEGMENT_SEC,
    AUDIO_MAX_DURATION_SEC,
    SYNC_AUDIO_MAX_DURATION_SEC,
    SYNC_VIDEO_MAX_DURATION_SEC,
    AUDIO_MIN_DURATION_SEC,
    AUDIO_MIN_SAMPLE_RATE,
    AUDIO_MAX_SAMPLE_RATE,
    AUDIO_MAX_CHANNELS,
    IMAGE_MAX_PIXELS,
    VIDEO_MAX_UPLOAD_BYTES,
    VIDEO_MAX_DURATION_SEC,
    VIDEO_MAX_FRAME_PIXELS,
    VIDEO_MAX_FRAME_RATE,
    VIDEO_MAX_FRAMES_PER_CLIP,
    VIDEO_FPS,
    VIDEO_CLIP_SEC,
    VIDEO_FRAME_TOKENS,
    MAX_UPLOAD_BYTES,
    URL_ALLOWLIST,
    FETCH_TIMEOUT_SEC,
    FETCH_MAX_REDIRECTS,
    FETCH_MAX_CONCURRENT,
    FETCH_MAX_CONCURRENT_PER_KEY,
    REQUIRE_API_KEY,
    RATE_LIMIT_PER_MINUTE,
    TASK_RETENTION_DAYS,
    TASKS_IN_FLIGHT_PER_KEY,
    JOB_LEASE_SEC,
)


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
    # "local"; "remote": the model runs on the inference nodes; "twelvelabs": a hosted model.
    backend: str
    inference_urls: tuple[str, ...]
    inference_secret: str = field(repr=False)
    inference_timeout_sec: float
    remote_url: str
    remote_api_key: str = field(repr=False)
    remote_model: str

    def for_source(self, source: str) -> ModelSettings:
        """The settings that make vectors of `source` (a hosted model's, or a local one's)."""
        hosted = parse_hosted_source(source)
        if hosted is not None:
            model, url = hosted
            return replace(
                self, source=source, backend="twelvelabs", remote_model=model, remote_url=url
            )
        if self.backend == "twelvelabs":
            return replace(self, source=source, backend="local")
        return replace(self, source=source)


def hosted_source(*, model: str, url: str) -> str:
    """What names a hosted model's vectors: the model at its API."""
    return f"{model}@{url.rstrip('/')}"


def parse_hosted_source(source: str) -> tuple[str, str] | None:
    """(model, url) of a hosted_source; None for a local model's hub id or folder."""
    model, found, url = source.partition("@")
    if found and model and url.startswith(("https://", "http://")):
        return model, url
    return None


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
    image_tokens = IMAGE_TOKENS.value()
    if image_tokens is not None and image_tokens not in IMAGE_TOKEN_BUDGETS:
        raise ImproperlyConfigured(
            f"EMBEDDINGS_IMAGE_TOKENS is {image_tokens}; use one of "
            f"{', '.join(map(str, IMAGE_TOKEN_BUDGETS))}, or leave it unset for the model's own."
        )
    video_frame_tokens = VIDEO_FRAME_TOKENS.value()
    if video_frame_tokens not in IMAGE_TOKEN_BUDGETS:
        raise ImproperlyConfigured(
            f"EMBEDDINGS_VIDEO_FRAME_TOKENS is {video_frame_tokens}; use one of "
            f"{', '.join(map(str, IMAGE_TOKEN_BUDGETS))}."
        )
    clip_sec = VIDEO_CLIP_SEC.value()
    if not VIDEO_CLIP_SEC_RANGE[0] <= clip_sec <= VIDEO_CLIP_SEC_RANGE[1]:
        raise ImproperlyConfigured(
            f"EMBEDDINGS_VIDEO_CLIP_SEC is {clip_sec}; use {VIDEO_CLIP_SEC_RANGE[0]:g} to "
            f"{VIDEO_CLIP_SEC_RANGE[1]:g} seconds."
        )
    audio_limits = AudioLimits(
        min_sample_rate=AUDIO_MIN_SAMPLE_RATE.value(),
        max_sample_rate=AUDIO_MAX_SAMPLE_RATE.value(),
        max_channels=AUDIO_MAX_CHANNELS.value(),
        min_duration_sec=AUDIO_MIN_DURATION_SEC.value(),
        max_duration_sec=AUDIO_MAX_DURATION_SEC.value(),
    )
    backend = _backend()
    hosted = backend == "twelvelabs"
    remote_url, remote_model = REMOTE_URL.value().rstrip("/"), REMOTE_MODEL.value()
    return EmbeddingsSettings(
        model=ModelSettings(
            source=hosted_source(model=remote_model, url=remote_url) if hosted else MODEL.value(),
            device=DEVICE.value(),
            dtype=DTYPE.value(),
            batch_size=BATCH_SIZE.value(),
            threads=THREADS.value(),
            vision_runtime=VISION_RUNTIME.value(),
            audio_runtime=AUDIO_RUNTIME.value(),
            # A hosted model takes the image as it is: it has no token budget to set.
            image_tokens=None if hosted else image_tokens,
            modalities=_modalities(EMBEDDED_MODALITIES.value()),
            backend=backend,
            inference_urls=tuple(INFERENCE_URLS.value()),
            inference_secret=INFERENCE_SECRET.value(),
            inference_timeout_sec=INFERENCE_TIMEOUT_SEC.value(),
            remote_url=remote_url,
            remote_api_key=REMOTE_API_KEY.value(),
            remote_model=remote_model,
        ),
        model_name=MODEL_NAME.value(),
        model_aliases=tuple(MODEL_ALIASES.value()),
        text_max_tokens=TEXT_MAX_TOKENS.value(),
        audio_segment_sec=AUDIO_SEGMENT_SEC.value(),
        audio_limits=audio_limits,
        sync_audio_max_duration_sec=SYNC_AUDIO_MAX_DURATION_SEC.value(),
        sync_video_max_duration_sec=SYNC_VIDEO_MAX_DURATION_SEC.value(),
        image_max_pixels=IMAGE_MAX_PIXELS.value(),
        video_limits=VideoLimits(
            max_bytes=VIDEO_MAX_UPLOAD_BYTES.value(),
            max_duration_sec=VIDEO_MAX_DURATION_SEC.value(),
            max_frame_pixels=VIDEO_MAX_FRAME_PIXELS.value(),
            max_frame_rate=VIDEO_MAX_FRAME_RATE.value(),
            max_frames_per_clip=VIDEO_MAX_FRAMES_PER_CLIP.value(),
            audio=audio_limits,
        ),
        video_fps=VIDEO_FPS.value(),
        video_clip_sec=clip_sec,
        video_frame_tokens=video_frame_tokens,
        max_upload_bytes=MAX_UPLOAD_BYTES.value(),
        url_allowlist=tuple(URL_ALLOWLIST.value()),
        fetch_timeout_sec=FETCH_TIMEOUT_SEC.value(),
        fetch_max_redirects=FETCH_MAX_REDIRECTS.value(),
        fetch_max_concurrent=FETCH_MAX_CONCURRENT.value(),
        fetch_max_concurrent_per_key=FETCH_MAX_CONCURRENT_PER_KEY.value(),
        require_api_key=REQUIRE_API_KEY.value(),
        rate_limit_per_minute=RATE_LIMIT_PER_MINUTE.value(),
        task_retention=timedelta(days=TASK_RETENTION_DAYS.value()),
        tasks_in_flight_per_key=TASKS_IN_FLIGHT_PER_KEY.value(),
        task_lease_sec=JOB_LEASE_SEC.value(),
    )


def _modalities(listed: Sequence[str]) -> frozenset[Modality]:
    chosen = [name for name in MODALITIES if name in listed]
    unknown = sorted(set(listed) - set(chosen))
    if unknown:
        raise ImproperlyConfigured(
            f"EMBEDDINGS_MODALITIES names {', '.join(unknown)}; use {', '.join(MODALITIES)}."
        )
    # The language model makes every vector, so text is always embedded.
    return frozenset(("text", *chosen))


BACKENDS = ("local", "remote", "twelvelabs")


def _backend() -> str:
    backend = BACKEND.value()
    if backend not in BACKENDS:
        raise ImproperlyConfigured(
            f"EMBEDDINGS_BACKEND is {backend!r}; use {' or '.join(BACKENDS)}."
        )
    if backend == "remote" and not (INFERENCE_URLS.value() and INFERENCE_SECRET.value()):
        raise ImproperlyConfigured(
            "EMBEDDINGS_BACKEND is remote: set EMBEDDINGS_INFERENCE_URLS to the inference nodes "
            "and EMBEDDINGS_INFERENCE_SECRET to the secret they share."
        )
    if backend == "twelvelabs" and not REMOTE_API_KEY.value():
        raise ImproperlyConfigured(
            "EMBEDDINGS_BACKEND is twelvelabs: set EMBEDDINGS_REMOTE_API_KEY to an API key of "
            "EMBEDDINGS_REMOTE_URL (TwelveLabs' dashboard, or `manage.py create_api_key` on a "
            "server of this project)."
        )
    if backend == "twelvelabs" and not REMOTE_URL.value().startswith(("https://", "http://")):
        raise ImproperlyConfigured(
            f"EMBEDDINGS_REMOTE_URL is {REMOTE_URL.value()!r}; give an http(s) URL, e.g. "
            "https://api.twelvelabs.io/v1.3."
        )
    return backend
