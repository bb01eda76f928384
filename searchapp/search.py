from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from embeddings.engine.base import ModelUnavailable
from searchapp.models import Item
from searchapp.queries import MediaQuery, media_query_vector, text_query_vector
from searchapp.search_space import search_model_key
from searchapp.selectors import SearchFilters, SearchPage, item_search, item_vector, visible_items
from searchapp.services.items import storable


@dataclass(frozen=True, kw_only=True)
class LibraryQuery:
    text: str = ""
    file_bytes: bytes | None = None
    # A file query's vector, already made (a kept file query: services/query_files.py).
    media: MediaQuery | None = None
    item_id: int | None = None
    filters: SearchFilters = field(default_factory=SearchFilters)
    page: int = 1
    page_size: int = 24
    semantic_only: bool = False

    @property
    def is_empty(self) -> bool:
        return not self.text and not self.by_file and self.item_id is None

    @property
    def by_file(self) -> bool:
        return self.file_bytes is not None or self.media is not None


@dataclass
class LibraryResults:
    page: SearchPage
    query_item: Item | None = None
    query_modality: str = "text"
    model_problem: str = ""
    # Of a query clip: the seconds searched with, and whether the clip went on past them.
    query_audio_sec: float | None = None
    query_audio_cut: bool = False

    @property
    def query_audio_note(self) -> str:
        if not self.query_audio_cut or self.query_audio_sec is None:
            return ""
        return f"Searched with the first {self.query_audio_sec:g} s of the audio clip."


def library_search(query: LibraryQuery) -> LibraryResults:
    """Search by text, a dropped file or an item; text also matches the curators' words."""
    model_key = search_model_key()
    vector: np.ndarray | None = None
    query_item = None
    modality = "text"
    problem = ""
    media_query: MediaQuery | None = None
    filters = query.filters
    text = storable(query.text)
    try:
        if query.item_id is not None:
            query_item = visible_items().filter(pk=query.item_id).first()
            if query_item is not None:
                vector = item_vector(item=query_item, model_key=model_key)
                modality = query_item.modality
                filters = SearchFilters(
                    modality=filters.modality,
                    tag=filters.tag,
                    min_score=filters.min_score,
                    exclude_item_id=query_item.pk,
                )
        elif query.media is not None:
            media_query = query.media
        elif query.file_bytes is not None:
            media_query = media_query_vector(query.file_bytes, model_key=model_key)
        elif text:
            vector = text_query_vector(text, model_key=model_key)
        if media_query is not None:
            vector, modality = media_query.vector, media_query.modality
    except ModelUnavailable as error:
        if query.by_file or not text:
            raise
        problem = str(error)
    page = item_search(
        vector=vector,
        model_key=model_key,
        text=text if not query.by_file and query.item_id is None else "",
        filters=filters,
        offset=(query.page - 1) * query.page_size,
        limit=query.page_size,
        semantic_only=query.semantic_only and vector is not None,
    )
    return LibraryResults(
        page=page,
        query_item=query_item,
        query_modality=modality,
        model_problem=problem,
        query_audio_sec=media_query.audio_sec if media_query else None,
        query_audio_cut=media_query.audio_cut if media_query else False,
    )
