from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np

from embeddings.engine.base import ModelUnavailable
from embeddings.errors import InputError
from searchapp import conf
from searchapp.models import Item, Modality
from searchapp.search.query_vectors import (
    MediaQuery,
    away_from,
    media_query_vector,
    text_query_vector,
)
from searchapp.search.search_model import search_model_key
from searchapp.search.selectors import (
    SearchFilters,
    SearchPage,
    item_search,
    item_vector,
    item_vectors,
    visible_items,
)
from searchapp.services.items import storable

# "Less like this" marks; each costs the query a little, and a page of them says enough.
MAX_EXCLUDED_ITEMS = 20


@dataclass(frozen=True, kw_only=True)
class LibraryQuery:
    """`text` with `file_bytes` of an image is one composed query ("this, but at night").
    `exclude_item_ids` are examples of what not to find: the query moves away from them
    (queries.away_from) and they are never returned; hidden or unknown ids are ignored."""

    text: str = ""
    file_bytes: bytes | None = None
    # A file query's vector, already made (a kept file query: services/query_files.py).
    media: MediaQuery | None = None
    item_id: int | None = None
    exclude_item_ids: tuple[int, ...] = ()
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
    # The visible items of exclude_item_ids, in their order: what the query moved away from.
    excluded_items: list[Item] = field(default_factory=list)
    model_problem: str = ""
    # Of a query sound or video: the seconds searched with, and whether it went on past them.
    query_audio_sec: float | None = None
    query_audio_cut: bool = False

    @property
    def query_audio_note(self) -> str:
        if not self.query_audio_cut or self.query_audio_sec is None:
            return ""
        kind = "video" if self.query_modality == Modality.VIDEO else "audio clip"
        return f"Searched with the first {self.query_audio_sec:g} s of the {kind}."


def library_search(query: LibraryQuery) -> LibraryResults:
    """Search by text, a dropped file (with words or not) or an item, away from excluded items;
    the typed words also match the curators' words (fused by rank, selectors.item_search)."""
    _check_excluded_count(len(query.exclude_item_ids))
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
                filters = replace(filters, exclude_item_ids=frozenset([query_item.pk]))
        elif query.media is not None:
            media_query = query.media
        elif query.file_bytes is not None:
            media_query = media_query_vector(query.file_bytes, model_key=model_key, text=text)
        elif text:
            vector = text_query_vector(text, model_key=model_key)
        if media_query is not None:
            vector, modality = media_query.vector, media_query.modality
    except ModelUnavailable as error:
        if query.by_file or not text:
            raise
        problem = str(error)
    excluded = _visible_in_order(query.exclude_item_ids)
    if excluded:
        if vector is not None:
            negatives = item_vectors(item_ids=[item.pk for item in excluded], model_key=model_key)
            weight = conf.SEARCH_EXCLUDE_WEIGHT.value()
            vector = away_from(vector, list(negatives.values()), weight=weight)
        filters = replace(
            filters, exclude_item_ids=filters.exclude_item_ids | {item.pk for item in excluded}
        )
    page = item_search(
        vector=vector,
        model_key=model_key,
        text=text if query.item_id is None else "",
        filters=filters,
        offset=(query.page - 1) * query.page_size,
        limit=query.page_size,
        semantic_only=query.semantic_only and vector is not None,
    )
    return LibraryResults(
        page=page,
        query_item=query_item,
        query_modality=modality,
        excluded_items=excluded,
        model_problem=problem,
        query_audio_sec=media_query.audio_sec if media_query else None,
        query_audio_cut=media_query.audio_cut if media_query else False,
    )


def _visible_in_order(item_ids: tuple[int, ...]) -> list[Item]:
    if not item_ids:
        return []
    found = visible_items().in_bulk(item_ids)
    return [found[pk] for pk in dict.fromkeys(item_ids) if pk in found]


def excluded_item_ids(values: Iterable[str]) -> tuple[int, ...]:
    """Item ids from form values, each one id or several comma-separated ("12,40")."""
    parts = [part.strip() for value in values for part in value.split(",")]
    parts = [part for part in parts if part]
    _check_excluded_count(len(parts))
    try:
        ids = tuple(int(part) for part in parts)
    except ValueError:
        ids = ()
    if len(ids) < len(parts) or not all(1 <= pk < 2**63 for pk in ids):
        raise InputError("items to exclude are named by their ids, whole numbers from 1.")
    return ids


def _check_excluded_count(count: int) -> None:
    if count > MAX_EXCLUDED_ITEMS:
        raise InputError(f"at most {MAX_EXCLUDED_ITEMS} items can be excluded from a search.")
