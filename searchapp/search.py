from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from embeddings.engine.base import ModelUnavailable
from searchapp.models import Item
from searchapp.queries import media_query_vector, text_query_vector
from searchapp.search_space import search_model_key
from searchapp.selectors import SearchFilters, SearchPage, item_search, item_vector, visible_items
from searchapp.services.items import storable


@dataclass(frozen=True, kw_only=True)
class LibraryQuery:
    text: str = ""
    file_bytes: bytes | None = None
    item_id: int | None = None
    filters: SearchFilters = field(default_factory=SearchFilters)
    page: int = 1
    page_size: int = 24
    semantic_only: bool = False

    @property
    def is_empty(self) -> bool:
        return not self.text and self.file_bytes is None and self.item_id is None


@dataclass
class LibraryResults:
    page: SearchPage
    query_item: Item | None = None
    query_modality: str = "text"
    model_problem: str = ""


def library_search(query: LibraryQuery) -> LibraryResults:
    """Search by text, a dropped file or an item; text also matches the curators' words."""
    model_key = search_model_key()
    vector: np.ndarray | None = None
    query_item = None
    modality = "text"
    problem = ""
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
        elif query.file_bytes is not None:
            vector, modality = media_query_vector(query.file_bytes, model_key=model_key)
        elif text:
            vector = text_query_vector(text, model_key=model_key)
    except ModelUnavailable as error:
        if query.file_bytes is not None or not text:
            raise
        problem = str(error)
    page = item_search(
        vector=vector,
        model_key=model_key,
        text=text if query.file_bytes is None and query.item_id is None else "",
        filters=filters,
        offset=(query.page - 1) * query.page_size,
        limit=query.page_size,
        semantic_only=query.semantic_only and vector is not None,
    )
    return LibraryResults(
        page=page, query_item=query_item, query_modality=modality, model_problem=problem
    )
