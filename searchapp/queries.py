from __future__ import annotations

from functools import lru_cache

import numpy as np

from embeddings.errors import InputError
from embeddings.services import embed_audio, embed_image, embed_text
from searchapp.media_info import probe_media
from searchapp.models import Modality


def text_query_vector(text: str, *, model_key: str) -> np.ndarray:
    return _text_query_vector(text, model_key)


# Paging, filtering and "more like this" ask for the same text again; embedding it is the
# slowest step of a text search.
@lru_cache(maxsize=1024)
def _text_query_vector(text: str, model_key: str) -> np.ndarray:
    vector = embed_text(text, source=model_key).vector
    vector.flags.writeable = False
    return vector


def media_query_vector(data: bytes, *, model_key: str) -> tuple[np.ndarray, str]:
    """The vector of a dropped image or audio clip, made as the library's own items are."""
    if not data:
        raise InputError("the file is empty.")
    info = probe_media(data)
    if info.modality == Modality.IMAGE:
        return embed_image(data, source=model_key).vector, Modality.IMAGE
    segments = embed_audio(data, source=model_key)
    mean = np.mean([segment.vector for segment in segments], axis=0)
    return mean / np.linalg.norm(mean), Modality.AUDIO
