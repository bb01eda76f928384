from __future__ import annotations

from dataclasses import dataclass, replace
from typing import cast

import numpy as np

from embeddings.conf import EmbeddingsSettings, embeddings_settings
from embeddings.engine.base import EmbeddingModel, l2_normalise
from embeddings.engine.registry import get_model
from embeddings.errors import InputError
from embeddings.services import (
    embed_clip,
    embed_image,
    embed_image_with_text,
    embed_text,
    embed_video_file,
    prepare_audio,
    prepare_video,
)
from embeddings.spaces import VectorSpace
from searchapp import conf
from searchapp.media_info import probe_media
from searchapp.models import Modality
from searchapp.search.caches import search_caches

# What a dropped file is called in messages.
QUERY_KIND = {Modality.AUDIO: "sound", Modality.VIDEO: "video"}


@dataclass(frozen=True, kw_only=True)
class MediaQuery:
    vector: np.ndarray
    modality: str
    # The seconds of a sound or video the vector was made from, and whether the file went on.
    audio_sec: float | None = None
    audio_cut: bool = False


def text_query_vector(text: str, *, model_key: str) -> np.ndarray:
    """Embedding the words is the slowest step of a text search, so recent ones are kept."""
    return search_caches.text_query_vectors.get_or_make(
        (text, model_key), lambda: _embed_query_text(text, model_key)
    )


def _embed_query_text(text: str, model_key: str) -> np.ndarray:
    vector = embed_text(text, space=VectorSpace.from_key(model_key)).vector
    vector.flags.writeable = False
    return vector


def media_query_vector(data: bytes, *, model_key: str, text: str = "") -> MediaQuery:
    """The vector of a dropped image, sound or video, made as the library's own items are;
    of a sound, only the start (SEARCH_QUERY_AUDIO_MAX_SEC) is decoded and embedded, and of a
    video, what its first clip shows (EMBEDDINGS_VIDEO_CLIP_SEC).

    With `text`, an image and the words are one input to the model ("this, but at night").
    """
    if not data:
        raise InputError("the file is empty.")
    info = probe_media(data)
    space = VectorSpace.from_key(model_key)
    if info.modality == Modality.IMAGE:
        embedding = (
            embed_image_with_text(data, text, space=space)
            if text
            else embed_image(data, space=space)
        )
        return MediaQuery(vector=embedding.vector, modality=info.modality)
    if text:
        raise InputError(
            f"words can refine an image, not a {QUERY_KIND[info.modality]}: search with the "
            "file alone, or with the words alone."
        )
    model, config = get_model(source=space.source), embeddings_settings()
    if info.modality == Modality.VIDEO:
        return _video_query(data, model=model, config=config, space=space)
    clip = prepare_audio(
        data,
        start_offset_sec=0.0,
        model=model,
        config=config,
        cut_at_sec=conf.SEARCH_QUERY_AUDIO_MAX_SEC.value(),
    )
    segments = embed_clip(clip, model=model, config=config)
    mean = np.mean([segment.vector for segment in segments], axis=0)
    return MediaQuery(
        vector=mean / np.linalg.norm(mean),
        modality=info.modality,
        audio_sec=clip.duration_sec,
        audio_cut=clip.cut,
    )


def _video_query(
    data: bytes, *, model: EmbeddingModel, config: EmbeddingsSettings, space: VectorSpace
) -> MediaQuery:
    video = prepare_video(data, model=model, config=config)
    first_clip_end = min(video.end_sec, video.start_sec + config.video_clip_sec)
    cut = first_clip_end < video.end_sec
    first_clip = replace(video, end_sec=first_clip_end)
    (embedding,) = embed_video_file(
        first_clip, options=("visual",), model=model, config=config, space=space
    )
    return MediaQuery(
        vector=embedding.vector,
        modality=Modality.VIDEO,
        audio_sec=first_clip.duration_sec,
        audio_cut=cut,
    )


def away_from(vector: np.ndarray, negatives: list[np.ndarray], *, weight: float) -> np.ndarray:
    """Rocchio's negative feedback: q' = normalise(q - weight * mean(negatives)).

    The query keeps its direction and loses the part the negatives share, so what resembles
    them ranks lower. A query that nothing is left of (weight 1, and the one negative is the
    query itself) stays as it was.
    """
    if not negatives:
        return vector
    moved = vector - weight * np.mean(negatives, axis=0)
    if np.linalg.norm(moved) < 1e-6:
        return vector
    return cast(np.ndarray, l2_normalise(moved[np.newaxis])[0])
