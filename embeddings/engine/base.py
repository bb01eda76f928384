from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Literal, cast

import numpy as np
from PIL.Image import Image

if TYPE_CHECKING:
    from embeddings.media.video import VideoClip

Modality = Literal["text", "image", "audio"]
MODALITIES: tuple[Modality, ...] = ("text", "image", "audio")
TruncateSide = Literal["start", "end"]
# An interleaved input: images and words, in reading order.
Part = Image | str
# What of a video clip goes through the model's video input: its frames, or its frames and its
# audio track interleaved a second at a time (the model's own audio-visual layout).
ClipInput = Literal["visual", "fused"]


class ModelUnavailable(RuntimeError):
    """The configured model cannot be loaded; the message says how to fix that."""


class EmbeddingModel(ABC):
    """One model that puts texts, images and audio into one vector space.

    Implementations return float32 rows, L2-normalised, one per input, in input order.
    """

    def __init__(self, *, source: str, modalities: Collection[Modality] = MODALITIES) -> None:
        """`modalities`: what this instance embeds; the others raise ModelUnavailable."""
        self.source = source
        self.modalities = frozenset(modalities)

    @property
    @abstractmethod
    def dimension(self) -> int: ...

    @property
    @abstractmethod
    def sampling_rate(self) -> int: ...

    @abstractmethod
    def count_tokens(self, text: str) -> int: ...

    @abstractmethod
    def truncate_text(self, text: str, *, max_tokens: int, side: TruncateSide) -> str: ...

    @abstractmethod
    def embed_texts(self, texts: Sequence[str]) -> np.ndarray: ...

    @abstractmethod
    def embed_images(
        self, images: Sequence[Image], *, image_tokens: int | None = None
    ) -> np.ndarray:
        """`image_tokens`: the image's token budget (more tokens, finer detail, more time);
        None for the model's own default."""

    @abstractmethod
    def embed_audio(self, waveforms: Sequence[np.ndarray]) -> np.ndarray: ...

    @abstractmethod
    def embed_interleaved(
        self, parts: Sequence[Part], *, image_tokens: int | None = None
    ) -> np.ndarray:
        """One unit vector for images and words together, as one input in the given order,
        the parts joined by a space; words are read as plain text (special tokens in them are
        just characters)."""

    @abstractmethod
    def embed_video_clips(
        self, clips: Sequence[VideoClip], *, option: ClipInput, frame_tokens: int | None = None
    ) -> np.ndarray:
        """One unit vector per clip, through the model's video input; `fused` embeds a clip
        without an audio track as `visual`. `frame_tokens`: each frame's token budget (None
        for the model's own default)."""

    def answering(self) -> bool:
        """Whether calls can run now: a remote model's nodes may all have failed lately."""
        return True

    def embed_image_with_text(
        self, image: Image, text: str, *, image_tokens: int | None = None
    ) -> np.ndarray:
        """The image first, then the words, as one input."""
        return self.embed_interleaved([image, text], image_tokens=image_tokens)


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if not np.isfinite(vectors).all():
        raise FloatingPointError("the model produced non-finite values")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return cast(np.ndarray, vectors / np.maximum(norms, np.finfo(np.float32).tiny))
