"""A hosted model (EMBEDDINGS_BACKEND=twelvelabs): every input goes to TwelveLabs' Embed API v2
(`POST <EMBEDDINGS_REMOTE_URL>/embed-v2`, one input a request, the key in `x-api-key`), as the
file it was decoded from would have: images as PNG, audio as WAV, video clips as MP4. The same
API is this project's own, so a server of it can stand in for TwelveLabs. Nothing here imports
torch."""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import httpx
import numpy as np
from PIL.Image import Image

from embeddings.engine.base import (
    ClipInput,
    EmbeddingModel,
    Modality,
    ModelUnavailable,
    Part,
    TruncateSide,
    l2_normalise,
)
from embeddings.errors import InputError, InputTooLarge
from embeddings.media.encode import image_bytes, mp4_bytes, wav_bytes

if TYPE_CHECKING:
    from embeddings.conf import ModelSettings
    from embeddings.media.video import VideoClip

logger = logging.getLogger(__name__)

Fields = dict[str, Any]

# Audio goes as 16-bit WAV at this rate, the one speech and sound-event encoders take.
SAMPLING_RATE = 16_000
# After a failure (unreachable, 5xx, a refused key) the API is left alone this long; after a
# 429, as long as its Retry-After asks, up to this.
REST_SEC = 30.0
# The largest image file sent: Marengo's limit for an image (5 MB, Amazon Bedrock's model card).
IMAGE_MAX_BYTES = 5 * 1024 * 1024
CONNECT_TIMEOUT_SEC = 5.0
PROBE_TEXT = "a photo of a dog"


class HostedApi:
    """The Embed API v2 at one URL. Its refusals of an input are InputError (400) or
    InputTooLarge (413); anything else that keeps it from answering is ModelUnavailable."""

    def __init__(
        self,
        *,
        url: str,
        api_key: str,
        model_name: str,
        timeout_sec: float,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.model_name = model_name
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_sec, connect=min(CONNECT_TIMEOUT_SEC, timeout_sec)),
            headers={"x-api-key": api_key},
            transport=transport,
        )
        self._lock = threading.Lock()
        self._resting_until = 0.0

    def embed(self, input_type: str, fields: Fields) -> list[Fields]:
        """The answer's `data`: one entry per embedding."""
        body = {"input_type": input_type, "model_name": self.model_name, input_type: fields}
        try:
            response = self._client.post(f"{self.url}/embed-v2", json=body)
        except httpx.HTTPError as error:
            raise self._failed(f"could not be reached ({error or type(error).__name__})") from None
        if response.is_success:
            return _data(response, url=self.url)
        message = _message(response)
        if response.status_code == 413:
            raise InputTooLarge(f"The hosted model refused the input: {message}")
        if response.status_code in (400, 422):
            raise InputError(f"The hosted model refused the input: {message}")
        if response.status_code in (401, 403):
            raise self._failed(f"refused the API key (EMBEDDINGS_REMOTE_API_KEY): {message}")
        rest_sec = _retry_after(response) if response.status_code == 429 else REST_SEC
        raise self._failed(f"answered {response.status_code}: {message}", rest_sec=rest_sec)

    def answering(self) -> bool:
        with self._lock:
            return time.monotonic() >= self._resting_until

    def _failed(self, what: str, *, rest_sec: float = REST_SEC) -> ModelUnavailable:
        with self._lock:
            self._resting_until = max(self._resting_until, time.monotonic() + rest_sec)
        return ModelUnavailable(f"The embedding API at {self.url} (EMBEDDINGS_REMOTE_URL) {what}")


class HostedEmbeddingModel(EmbeddingModel):
    """One request per input, in turn: a hosted API takes one input a request, and limits how
    many a key may send at once."""

    def __init__(
        self, api: HostedApi, *, source: str, dimension: int, modalities: frozenset[Modality]
    ) -> None:
        super().__init__(source=source, modalities=modalities)
        self.api = api
        self._dimension = dimension

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def sampling_rate(self) -> int:
        return SAMPLING_RATE

    def answering(self) -> bool:
        return self.api.answering()

    def count_tokens(self, text: str) -> int:
        raise ModelUnavailable(
            "The hosted model's tokenizer is not on this server, so it cannot count a text's "
            "tokens; the hosted API cuts long texts at the end itself (text_truncate=end)."
        )

    def truncate_text(self, text: str, *, max_tokens: int, side: TruncateSide) -> str:
        if side == "start":
            raise InputError(
                "The hosted model cuts long texts at the end only; set text_truncate to end."
            )
        return text  # the API cuts it at the model's own limit (auto_truncate)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self._rows([self._vector("text", {"input_text": text}) for text in texts])

    def embed_images(
        self, images: Sequence[Image], *, image_tokens: int | None = None
    ) -> np.ndarray:
        self._require("image")
        return self._rows(
            [self._vector("image", {"media_source": _image_source(image)}) for image in images]
        )

    def embed_audio(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        self._require("audio")
        return self._rows(
            [
                self._vector(
                    "audio",
                    {
                        "media_source": _source(wav_bytes(samples, sampling_rate=SAMPLING_RATE)),
                        "embedding_option": ["audio"],
                        "embedding_scope": ["asset"],
                    },
                )
                for samples in waveforms
            ]
        )

    def embed_interleaved(
        self, parts: Sequence[Part], *, image_tokens: int | None = None
    ) -> np.ndarray:
        if any(isinstance(part, Image) for part in parts):
            self._require("image")
        (vector,) = self._rows([self._vector(*_interleaved_request(parts))])
        return cast(np.ndarray, vector)

    def embed_video_clips(
        self, clips: Sequence[VideoClip], *, option: ClipInput, frame_tokens: int | None = None
    ) -> np.ndarray:
        self._require("image")
        return self._rows([self._clip_vector(clip, option=option) for clip in clips])

    def _clip_vector(self, clip: VideoClip, *, option: ClipInput) -> np.ndarray:
        fused = option == "fused" and clip.audio is not None
        if fused:
            self._require("audio")
        fields: Fields = {
            "media_source": _source(mp4_bytes(clip, sampling_rate=SAMPLING_RATE)),
            "embedding_option": ["visual", "audio"] if fused else ["visual"],
            "embedding_scope": ["asset"],
        }
        if fused:
            fields["embedding_type"] = ["fused_embedding"]
        return self._vector("video", fields)

    def _vector(self, input_type: str, fields: Fields) -> np.ndarray:
        data = self.api.embed(input_type, fields)
        if "embedding_scope" in fields:
            data = [entry for entry in data if entry.get("embedding_scope") == "asset"]
        if len(data) != 1:
            raise ModelUnavailable(
                f"The embedding API at {self.api.url} answered {input_type} with {len(data)} "
                "embeddings where one was asked for."
            )
        return _embedding(data[0], dimension=self.dimension, url=self.api.url)

    def _rows(self, vectors: list[np.ndarray]) -> np.ndarray:
        if not vectors:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return l2_normalise(np.stack(vectors))

    def _require(self, modality: Modality) -> None:
        if modality not in self.modalities:
            raise ModelUnavailable(
                f"This process does not embed {modality} (EMBEDDINGS_MODALITIES); add it there."
            )


def _interleaved_request(parts: Sequence[Part]) -> tuple[str, Fields]:
    images = [part for part in parts if isinstance(part, Image)]
    if not images:
        return "text", {"input_text": " ".join(map(str, parts))}
    if len(parts) == 1:
        return "image", {"media_source": _image_source(images[0])}
    if len(parts) == 2 and isinstance(parts[0], Image) and isinstance(parts[1], str):
        return "text_image", {"media_source": _image_source(parts[0]), "input_text": parts[1]}
    # Each image named where it stands among the words.
    names = [f"image{index}" for index in range(len(images))]
    placed = iter(names)
    words = " ".join(part if isinstance(part, str) else f"<@{next(placed)}>" for part in parts)
    sources = [
        {"name": name, "media_type": "image", **_image_source(image)}
        for name, image in zip(names, images, strict=True)
    ]
    return "multi_input", {"input_text": words, "media_sources": sources}


def _image_source(image: Image) -> Fields:
    return _source(image_bytes(image, max_bytes=IMAGE_MAX_BYTES))


def _source(data: bytes) -> Fields:
    return {"base64_string": base64.b64encode(data).decode("ascii")}


def _data(response: httpx.Response, *, url: str) -> list[Fields]:
    try:
        data = response.json()["data"]
    except (ValueError, KeyError, TypeError):
        data = None
    if not isinstance(data, list) or not all(isinstance(entry, dict) for entry in data):
        raise ModelUnavailable(f"The embedding API at {url} answered without a `data` list.")
    return data


def _embedding(entry: Fields, *, dimension: int | None, url: str) -> np.ndarray:
    try:
        vector = np.asarray(entry["embedding"], dtype=np.float32)
    except (KeyError, TypeError, ValueError):
        vector = np.zeros(0, dtype=np.float32)
    if vector.ndim != 1 or not vector.size or dimension not in (None, vector.size):
        raise ModelUnavailable(
            f"The embedding API at {url} answered an embedding of shape {vector.shape}, not "
            f"({dimension},): did EMBEDDINGS_REMOTE_MODEL change under it?"
        )
    if not np.isfinite(vector).all():
        raise ModelUnavailable(f"The embedding API at {url} answered non-finite values.")
    return vector


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
        return str(body.get("message") or body["error"]["message"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return response.text[:200] or response.reason_phrase


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(max(float(response.headers.get("Retry-After", "")), 0.0), REST_SEC)
    except ValueError:
        return REST_SEC


def load_hosted_model(
    config: ModelSettings, transport: httpx.BaseTransport | None = None
) -> EmbeddingModel:
    """The hosted model, its dimension learned from one text: the key and URL are checked
    before the first search needs them."""
    api = HostedApi(
        url=config.remote_url,
        api_key=config.remote_api_key,
        model_name=config.remote_model,
        timeout_sec=config.inference_timeout_sec,
        transport=transport,
    )
    try:
        probe = api.embed("text", {"input_text": PROBE_TEXT})
    except InputError as error:
        raise ModelUnavailable(
            f"The embedding API at {api.url} refused to embed a text with model "
            f"{config.remote_model!r} (EMBEDDINGS_REMOTE_MODEL): {error}"
        ) from None
    dimension = _embedding(probe[0] if probe else {}, dimension=None, url=api.url).size
    logger.info("Embedding with %s at %s (%d dimensions)", config.remote_model, api.url, dimension)
    return HostedEmbeddingModel(
        api, source=config.source, dimension=dimension, modalities=config.modalities
    )
