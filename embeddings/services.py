from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from PIL.Image import Image

from embeddings.conf import EmbeddingsSettings, embeddings_settings
from embeddings.engine.base import EmbeddingModel, Part, l2_normalise
from embeddings.engine.registry import get_model
from embeddings.errors import InputError
from embeddings.media.audio import AudioClip, AudioSegment, BeyondLimit, check_audio, split_clip
from embeddings.media.images import decode_image
from embeddings.spaces import VectorSpace, configured_space

TextTruncate = Literal["start", "end", "none"]
TEXT_TRUNCATE_CHOICES: tuple[TextTruncate, ...] = ("start", "end", "none")


@dataclass(frozen=True)
class Embedding:
    vector: np.ndarray
    start_sec: float | None = None
    end_sec: float | None = None


def prepare_text(
    text: str, *, truncate: TextTruncate, model: EmbeddingModel, config: EmbeddingsSettings
) -> str:
    if not text.strip():
        raise InputError("the text is empty.")
    limit = config.text_max_tokens
    if truncate == "none":
        tokens = model.count_tokens(text)
        if tokens > limit:
            raise InputError(
                f"the text token length should be less than or equal to {limit}; it is {tokens}. "
                "Shorten it or set text_truncate to start or end."
            )
        return text
    return model.truncate_text(text, max_tokens=limit, side=truncate)


def prepare_image(data: bytes, *, config: EmbeddingsSettings) -> Image:
    return decode_image(data, max_pixels=config.image_max_pixels)


def prepare_audio(
    data: bytes,
    *,
    start_offset_sec: float,
    model: EmbeddingModel,
    config: EmbeddingsSettings,
    cut_at_sec: float | None = None,
) -> AudioClip:
    """The clip to embed; with `cut_at_sec`, only the file's start up to that time, the
    rest left undecoded."""
    limits = config.audio_limits
    beyond_limit: BeyondLimit = "refuse"
    if cut_at_sec is not None:
        limits = replace(limits, max_duration_sec=min(cut_at_sec, limits.max_duration_sec))
        beyond_limit = "cut"
    return check_audio(
        data,
        sampling_rate=model.sampling_rate,
        limits=limits,
        start_offset_sec=start_offset_sec,
        beyond_limit=beyond_limit,
    )


def embed_texts(texts: list[str], *, model: EmbeddingModel) -> list[Embedding]:
    return [Embedding(vector) for vector in model.embed_texts(texts)]


def embed_images(
    images: list[Image], *, model: EmbeddingModel, space: VectorSpace
) -> list[Embedding]:
    vectors = model.embed_images(images, image_tokens=space.image_tokens)
    return [Embedding(vector) for vector in vectors]


def embed_clip(
    clip: AudioClip,
    *,
    model: EmbeddingModel,
    config: EmbeddingsSettings,
    on_segment: Callable[[AudioSegment], None] | None = None,
    fixed_segment_sec: float | None = None,
) -> list[Embedding]:
    """One embedding per segment, decoded and embedded a batch at a time; `on_segment` sees
    each decoded segment, in order (a caller measuring the audio needs no decoding of its own).
    Segments are equal and closest to the configured length, or with `fixed_segment_sec`
    exactly that long from the clip's start, the last one shorter."""
    embeddings: list[Embedding] = []
    if fixed_segment_sec is None:
        segments = split_clip(clip, target_sec=config.audio_segment_sec)
    else:
        segments = split_clip(clip, target_sec=fixed_segment_sec, fixed=True)
    # Closed at once if the model fails, not when the collector gets to the open decoder.
    with closing(segments):
        while batch := list(itertools.islice(segments, config.model.batch_size)):
            if on_segment is not None:
                for segment in batch:
                    on_segment(segment)
            vectors = model.embed_audio([segment.samples for segment in batch])
            embeddings += [
                Embedding(vector, start_sec=segment.start_sec, end_sec=segment.end_sec)
                for segment, vector in zip(batch, vectors, strict=True)
            ]
    return embeddings


def embed_parts(parts: Sequence[Part], *, model: EmbeddingModel, space: VectorSpace) -> Embedding:
    """The model's own embedding of images and words as one input, in their order."""
    return Embedding(model.embed_interleaved(parts, image_tokens=space.image_tokens))


def mean_embedding(embeddings: Sequence[Embedding]) -> Embedding:
    """One embedding for the whole span: the L2-normalised mean of its parts' vectors."""
    (vector,) = l2_normalise(np.mean([embedding.vector for embedding in embeddings], axis=0)[None])
    return Embedding(vector, start_sec=embeddings[0].start_sec, end_sec=embeddings[-1].end_sec)


def embed_text(
    text: str, *, truncate: TextTruncate = "end", space: VectorSpace | None = None
) -> Embedding:
    model, config = _model_in(space), embeddings_settings()
    return embed_texts(
        [prepare_text(text, truncate=truncate, model=model, config=config)], model=model
    )[0]


def embed_image(data: bytes, *, space: VectorSpace | None = None) -> Embedding:
    space = space or configured_space()
    image = prepare_image(data, config=embeddings_settings())
    return embed_images([image], model=_model_in(space), space=space)[0]


def embed_image_with_text(
    data: bytes, text: str, *, truncate: TextTruncate = "end", space: VectorSpace | None = None
) -> Embedding:
    """The model's own embedding of the image and the words as one input."""
    space = space or configured_space()
    model, config = _model_in(space), embeddings_settings()
    image = prepare_image(data, config=config)
    words = prepare_text(text, truncate=truncate, model=model, config=config)
    return Embedding(model.embed_image_with_text(image, words, image_tokens=space.image_tokens))


def embed_audio(
    data: bytes, *, start_offset_sec: float = 0.0, space: VectorSpace | None = None
) -> list[Embedding]:
    model, config = _model_in(space), embeddings_settings()
    clip = prepare_audio(data, start_offset_sec=start_offset_sec, model=model, config=config)
    return embed_clip(clip, model=model, config=config)


def _model_in(space: VectorSpace | None) -> EmbeddingModel:
    return get_model(source=(space or configured_space()).source)
