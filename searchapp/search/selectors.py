from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connections, transaction
from django.db.backends.utils import CursorWrapper
from django.db.models import F, QuerySet
from pgvector import Vector
from psycopg import sql

from embeddings.engine.base import l2_normalise
from searchapp import conf
from searchapp.models import Item, ItemEmbedding, NearDuplicate, Status
from searchapp.replicas import reading_database
from searchapp.search.vector_index import cosine_distance

RRF_K = 60
# Audio items have several vectors; fetch this many more rows than items wanted.
CANDIDATES_PER_RESULT = 4
# Where words and vectors are fused, an item's rank depends on how deep both lists go: each
# page of such a search reads them this deep (or as deep as the page), so that the results of
# pages 1, 2, 3... are one ranking, cut in pages.
FUSION_DEPTH = 100


@dataclass
class SearchHit:
    item_id: int
    item: Item | None = None
    score: float | None = None
    start_sec: float | None = None
    end_sec: float | None = None
    text_match: bool = False
    rank_score: float = 0.0


@dataclass(frozen=True, kw_only=True)
class SearchFilters:
    modality: str | None = None
    tag: str | None = None
    min_score: float = 0.0
    # Never returned: the item a "more like this" starts from, the items marked "less like this".
    exclude_item_ids: frozenset[int] = frozenset()


@dataclass
class SearchPage:
    hits: list[SearchHit]
    has_more: bool


def visible_items() -> QuerySet[Item]:
    return Item.objects.filter(hidden=False)


def nearest_segments(
    *,
    vector: np.ndarray,
    model_key: str,
    limit: int,
    modality: str | None = None,
    tag: str | None = None,
) -> list[tuple[int, float, float | None, float | None]]:
    """(item id, cosine similarity, start, end) of the nearest visible vectors, nearest first."""
    statement, params = nearest_segments_query(
        vector=vector, model_key=model_key, limit=limit, modality=modality, tag=tag
    )
    database = reading_database()
    with transaction.atomic(using=database), connections[database].cursor() as cursor:
        tune_index_scan(cursor, tag_filter=tag is not None)
        cursor.execute(statement.as_string(cursor.connection), params)
        rows = cursor.fetchall()
    # relaxed_order may return rows slightly out of order.
    return sorted(rows, key=lambda row: -row[1])


def nearest_segments_query(
    *,
    vector: np.ndarray,
    model_key: str,
    limit: int,
    modality: str | None = None,
    tag: str | None = None,
) -> tuple[sql.Composed, dict[str, str | int | None]]:
    """The ordering expression is the per-model HNSW index's, so the index answers it."""
    distance = cosine_distance(len(vector))
    filters = [sql.SQL("model_key = %(model_key)s"), sql.SQL("NOT hidden")]
    if modality:
        filters.append(sql.SQL("modality = %(modality)s"))
    if tag:
        filters.append(sql.SQL("tags @> ARRAY[%(tag)s]::varchar(64)[]"))
    statement = sql.SQL(
        "SELECT item_id, 1 - ({distance}) AS score, start_sec, end_sec FROM {table} "
        "WHERE {filters} ORDER BY {distance} LIMIT %(limit)s"
    ).format(
        distance=distance,
        table=sql.Identifier(ItemEmbedding._meta.db_table),
        filters=sql.SQL(" AND ").join(filters),
    )
    params = {
        "query": Vector(vector).to_text(),
        "model_key": model_key,
        "modality": modality,
        "tag": tag,
        "limit": limit,
    }
    return statement, params


def tune_index_scan(cursor: CursorWrapper, *, tag_filter: bool = False) -> None:
    cursor.execute(*index_scan_settings(tag_filter=tag_filter))


def index_scan_settings(*, tag_filter: bool) -> tuple[str, list[str]]:
    """Settings for this transaction's vector query.

    Iterative scans keep filtered queries on the index without losing results (pgvector 0.8).
    The planner prices an index scan higher as ef_search grows and, on small tables or with a
    filter, picks an exact scan instead (183 ms at 100k items with a modality filter,
    docs/performance.md). Ruling out the sort that every other plan needs holds the query on
    the index. Not with a tag filter: a tag can be rare enough that an exact scan is right.
    """
    return (
        "SELECT set_config('hnsw.ef_search', %s, true), "
        "set_config('hnsw.iterative_scan', 'relaxed_order', true), "
        "set_config('enable_sort', %s, true)",
        [str(int(conf.SEARCH_EF_SEARCH.value())), "on" if tag_filter else "off"],
    )


def item_search(
    *,
    vector: np.ndarray | None,
    model_key: str,
    text: str = "",
    filters: SearchFilters = SearchFilters(),
    offset: int = 0,
    limit: int = 24,
    semantic_only: bool = False,
) -> SearchPage:
    fused = bool(text.strip()) and not semantic_only
    wanted = max(offset + limit + 1, FUSION_DEPTH if fused else 0)
    ranked: dict[int, SearchHit] = {}
    if vector is not None:
        rows = nearest_segments(
            vector=vector,
            model_key=model_key,
            limit=(wanted + len(filters.exclude_item_ids)) * CANDIDATES_PER_RESULT,
            modality=filters.modality,
            tag=filters.tag,
        )
        vector_ids: list[int] = []
        best: dict[int, tuple[float, float | None, float | None]] = {}
        for item_id, score, start, end in rows:
            if item_id in filters.exclude_item_ids or score < filters.min_score:
                continue
            if item_id not in best:
                best[item_id] = (score, start, end)
                vector_ids.append(item_id)
        for rank, item_id in enumerate(vector_ids):
            score, start, end = best[item_id]
            ranked[item_id] = SearchHit(
                item_id=item_id,
                score=score,
                start_sec=start,
                end_sec=end,
                rank_score=1 / (RRF_K + rank + 1),
            )
    if fused:
        for rank, item_id in enumerate(_text_matches(text, filters=filters, limit=wanted)):
            hit = ranked.setdefault(item_id, SearchHit(item_id=item_id))
            hit.text_match = True
            hit.rank_score += 1 / (RRF_K + rank + 1)
    shown = set(
        _filtered(visible_items().filter(pk__in=list(ranked)), filters).values_list("pk", flat=True)
    )
    hits = sorted(
        (hit for item_id, hit in ranked.items() if item_id in shown),
        key=lambda hit: -hit.rank_score,
    )
    page = hits[offset : offset + limit]
    # Only the page's items are read whole; the candidates behind it were checked by id.
    items = Item.objects.in_bulk([hit.item_id for hit in page])
    for hit in page:
        hit.item = items.get(hit.item_id)
    return SearchPage(
        hits=[hit for hit in page if hit.item is not None], has_more=len(hits) > offset + limit
    )


def _text_matches(text: str, *, filters: SearchFilters, limit: int) -> list[int]:
    query = SearchQuery(text, search_type="websearch", config="english")
    matches = (
        _filtered(visible_items().filter(status=Status.READY), filters)
        .filter(search_document=query)
        .exclude(pk__in=filters.exclude_item_ids)
        .annotate(rank=SearchRank(F("search_document"), query))
        .order_by("-rank", "-created_at")
    )
    return list(matches.values_list("pk", flat=True)[:limit])


def _filtered(items: QuerySet[Item], filters: SearchFilters) -> QuerySet[Item]:
    if filters.modality:
        items = items.filter(modality=filters.modality)
    if filters.tag:
        items = items.filter(tags__contains=[filters.tag])
    return items


def item_vector(*, item: Item, model_key: str) -> np.ndarray | None:
    """The item's vector for "more like this": audio segments averaged, then normalised."""
    return item_vectors(item_ids=[item.pk], model_key=model_key).get(item.pk)


def item_vectors(*, item_ids: Iterable[int], model_key: str) -> dict[int, np.ndarray]:
    """Each item's vector, as item_vector makes it, in one query; items without one are left out."""
    segments: dict[int, list[np.ndarray]] = {}
    rows = ItemEmbedding.objects.filter(item_id__in=list(item_ids), model_key=model_key)
    for item_id, embedding in rows.values_list("item_id", "embedding"):
        segments.setdefault(item_id, []).append(np.asarray(embedding, dtype=np.float32))
    return {
        item_id: l2_normalise(np.mean(vectors, axis=0, keepdims=True))[0]
        for item_id, vectors in segments.items()
    }


def item_segment_starts(*, item: Item, model_key: str) -> list[float]:
    """Where each of an audio item's segments starts, in seconds, in order."""
    starts = (
        item.embeddings.filter(model_key=model_key)
        .order_by("segment")
        .values_list("start_sec", flat=True)
    )
    return [start for start in starts if start is not None]


def item_neighbours(*, item: Item, model_key: str, limit: int = 8) -> list[SearchHit]:
    vector = item_vector(item=item, model_key=model_key)
    if vector is None:
        return []
    page = item_search(
        vector=vector,
        model_key=model_key,
        # Neighbours are the nearest items, however far they are.
        filters=SearchFilters(exclude_item_ids=frozenset([item.pk]), min_score=-1.0),
        limit=limit,
    )
    return page.hits


def near_duplicate_groups(*, model_key: str, min_score: float) -> list[list[SearchHit]]:
    """Visible items linked by near-duplicate pairs, the newest group first and the newest item
    first in each; a hit's score is the item's highest similarity in its group. The hits have
    no items yet (hits_with_items, for the page shown)."""
    pairs = list(
        NearDuplicate.objects.filter(model_key=model_key, score__gte=min_score).values_list(
            "item_id", "other_id", "score"
        )
    )
    # Apart from the pairs: joined to them, the items table was scanned whole (40 ms at 100k).
    hidden = set(
        Item.objects.filter(
            pk__in={pk for pair in pairs for pk in pair[:2]}, hidden=True
        ).values_list("pk", flat=True)
    )
    parent: dict[int, int] = {}

    def root(item_id: int) -> int:
        while parent.setdefault(item_id, item_id) != item_id:
            parent[item_id] = parent[parent[item_id]]
            item_id = parent[item_id]
        return item_id

    best: dict[int, float] = {}
    for item_id, other_id, score in pairs:
        if item_id in hidden or other_id in hidden:
            continue
        parent[root(item_id)] = root(other_id)
        best[item_id] = max(score, best.get(item_id, score))
        best[other_id] = max(score, best.get(other_id, score))
    groups: dict[int, list[int]] = {}
    for item_id in sorted(best, reverse=True):
        groups.setdefault(root(item_id), []).append(item_id)
    return [
        [SearchHit(item_id=item_id, score=best[item_id]) for item_id in members]
        for members in groups.values()
    ]


def hits_with_items(hits: Iterable[SearchHit]) -> None:
    wanted = list(hits)
    items = visible_items().in_bulk([hit.item_id for hit in wanted])
    for hit in wanted:
        hit.item = items.get(hit.item_id)
