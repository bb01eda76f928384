from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import numpy as np
from django.db.models import Subquery
from django.utils import timezone

from searchapp import conf
from searchapp.models import QueryFile
from searchapp.previews import query_preview
from searchapp.search.query_vectors import MediaQuery, media_query_vector

# 128 random bits: a key cannot be guessed, so a file query is seen only by those given its link.
KEY_BYTES = 16


def query_file_add(*, data: bytes, name: str, model_key: str, words: str = "") -> QueryFile:
    """Embeds a dropped, pasted, picked or recorded file (an image with `words`: both as one
    input) and keeps its vector under a new key.

    Raises what embedding it raises (InputError, ModelUnavailable) before anything is stored.
    """
    media = media_query_vector(data, model_key=model_key, text=words)
    preview, preview_type = query_preview(data, modality=media.modality)
    query_files_prune()
    return QueryFile.objects.create(
        key=secrets.token_urlsafe(KEY_BYTES),
        name=name[:255],
        words=words,
        modality=media.modality,
        model_key=model_key,
        embedding=media.vector,
        audio_sec=media.audio_sec,
        audio_cut=media.audio_cut,
        preview=preview,
        preview_type=preview_type,
    )


def query_file_find(*, key: str, model_key: str) -> QueryFile | None:
    """The file query under `key`, unless it expired or was made for another model's vectors."""
    return (
        QueryFile.objects.defer("preview")
        .filter(key=key, model_key=model_key, created_at__gte=_oldest_kept())
        .first()
    )


def query_file_preview(*, key: str) -> QueryFile | None:
    return (
        QueryFile.objects.filter(key=key, created_at__gte=_oldest_kept())
        .exclude(preview_type="")
        .first()
    )


def query_file_media(query_file: QueryFile) -> MediaQuery:
    return MediaQuery(
        vector=np.asarray(query_file.embedding, dtype=np.float32),
        modality=query_file.modality,
        audio_sec=query_file.audio_sec,
        audio_cut=query_file.audio_cut,
    )


def query_files_prune() -> None:
    """Deletes the expired file queries, and the oldest past SEARCH_QUERY_FILES_MAX (making
    room for one more)."""
    QueryFile.objects.filter(created_at__lt=_oldest_kept()).delete()
    kept = max(conf.SEARCH_QUERY_FILES_MAX.value() - 1, 0)
    newest_dropped = QueryFile.objects.order_by("-pk").values("pk")[kept : kept + 1]
    QueryFile.objects.filter(pk__lte=Subquery(newest_dropped)).delete()


def _oldest_kept() -> datetime:
    return timezone.now() - timedelta(seconds=conf.SEARCH_QUERY_FILE_TTL_SEC.value())
