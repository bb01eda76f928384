from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from django.conf import settings

from embeddings.conf import embeddings_settings
from embeddings.engine.base import l2_normalise
from embeddings.engine.registry import get_model
from embeddings.errors import InputError
from embeddings.services import (
    embed_clip,
    embed_image,
    embed_image_with_text,
    embed_text,
    prepare_audio,
)
from embeddings.spaces import VectorSpace
from searchapp.media_info import probe_media
from searchapp.models import Modality


@dataclass(frozen=True, kw_only=True)
class MediaQuery:
    vector: np.ndarray
    modality: str
    # The seconds of an audio clip the vector was made from, and whether the clip went on.
    audio_sec: float | None = None
    audio_cut: bool = False


def text_query_vector(text: str, *, model_key: str) -> np.ndarray:
    return _text_query_vector(text, model_key)


# Paging, filtering and "more like this" ask for the same text again; embedding it is the
# slowest step of a text search.
@lru_cache(maxsize=1024)
def _text_query_vector(text: str, model_key: str) -> np.ndarray:
    vector = embed_text(text, space=VectorSpace.from_key(model_key)).vector
    vector.flags.writeable = False
    return vector


def media_query_vector(data: bytes, *, model_key: str, text: str = "") -> MediaQuery:
    """The vector of a dropped image or audio clip, made as the library's own items are;
    of a clip, only the start (SEARCH_QUERY_AUDIO_MAX_SEC) is decoded and embedded.

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
            "words can refine an image, not a sound: search with the audio clip alone, "
            "or with the words alone."
        )
    model, config = get_model(source=space.source), embeddings_settings()
    clip = prepare_audio(
        data,
        start_offset_sec=0.0,
        model=model,
        config=config,
        cut_at_sec=settings.SEARCH_QUERY_AUDIO_MAX_SEC,
    )
    segments = embed_clip(clip, model=model, config=config)
    mean = np.mean([segment.vector for segment in segments], axis=0)
    return MediaQuery(
        vector=mean / np.linalg.norm(mean),
        modality=info.modality,
        audio_sec=clip.duration_sec,
        audio_cut=clip.cut,
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
    return l2_normalise(moved[np.newaxis])[0]
