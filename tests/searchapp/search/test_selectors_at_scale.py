"""Vector queries (searches, near-duplicate lookups) over a library large enough for
PostgreSQL's planner to choose between the HNSW index and an exact scan."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from django.db import connection, transaction
from django.test import override_settings

from embeddings.engine.base import EmbeddingModel
from embeddings.engine.registry import get_model
from searchapp.models import Item, ItemEmbedding, Modality, Status
from searchapp.search.search_model import embedding_model_key
from searchapp.search.selectors import nearest_segments, nearest_segments_query, tune_index_scan
from searchapp.search.vector_index import (
    STORAGE,
    ensure_vector_index,
    index_name,
    indexed_expression,
)
from searchapp.services.duplicates import NEAR_DUPLICATES

pytestmark = pytest.mark.django_db

RARE = (17, 1500, 2999)


@pytest.fixture(scope="module")
def many_vectors(  # type: ignore[no-untyped-def]
    django_db_setup, django_db_blocker, tiny_model_dir: Path
) -> Iterator[tuple[list[Item], np.ndarray]]:
    """3000 text items with random vectors, three of them tagged "rare", a third of the vectors
    labelled image, indexed and analysed: made once for the module's tests, which only read."""
    with (
        django_db_blocker.unblock(),
        override_settings(EMBEDDINGS_MODEL=str(tiny_model_dir), EMBEDDINGS_DEVICE="cpu"),
    ):
        items, vectors = _add_many_vectors(get_model())
        yield items, vectors
        Item.objects.filter(pk__in=[item.pk for item in items]).delete()


def _add_many_vectors(model: EmbeddingModel) -> tuple[list[Item], np.ndarray]:
    key = embedding_model_key()
    items = Item.objects.bulk_create(
        Item(modality=Modality.TEXT, text=f"t{i}", content_hash=f"{i:064d}", status=Status.READY)
        for i in range(3000)
    )
    vectors = np.random.default_rng(3).standard_normal((len(items), model.dimension))
    ItemEmbedding.objects.bulk_create(
        ItemEmbedding(
            item=item,
            model_key=key,
            modality=Modality.IMAGE if index % 3 == 0 else Modality.TEXT,
            tags=["rare"] if index in RARE else ["common"],
            embedding=vector.astype(np.float32),
        )
        for index, (item, vector) in enumerate(zip(items, vectors, strict=True))
    )
    ensure_vector_index(model_key=key, dimension=model.dimension)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE searchapp_itemembedding")
    return items, vectors


@pytest.mark.parametrize("ef_search", [40, 100, 400, 1000])
@pytest.mark.parametrize("filters", [{}, {"modality": "image"}])
def test_vector_queries_never_fall_back_to_an_exact_scan(  # type: ignore[no-untyped-def]
    many_vectors, settings, filters: dict[str, str], ef_search: int
) -> None:
    settings.SEARCH_EF_SEARCH = ef_search
    key = embedding_model_key()
    statement, params = nearest_segments_query(
        vector=many_vectors[1][0], model_key=key, limit=10, **filters
    )

    with transaction.atomic(), connection.cursor() as cursor:
        tune_index_scan(cursor)
        cursor.execute("EXPLAIN " + statement.as_string(cursor.connection), params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert f"Index Scan using {index_name(key)}" in plan, plan


def test_nearest_segments_finds_the_exact_vector_first(many_vectors) -> None:  # type: ignore[no-untyped-def]
    items, vectors = many_vectors

    rows = nearest_segments(vector=vectors[42], model_key=embedding_model_key(), limit=10)

    assert rows[0][0] == items[42].pk
    assert rows[0][1] == pytest.approx(1.0, abs=1e-5)


def test_a_rare_tag_filter_loses_no_results(many_vectors) -> None:  # type: ignore[no-untyped-def]
    items, vectors = many_vectors

    rows = nearest_segments(
        vector=-vectors[RARE[0]], model_key=embedding_model_key(), limit=10, tag="rare"
    )

    assert {row[0] for row in rows} == {items[index].pk for index in RARE}


def test_near_duplicates_are_looked_up_through_the_hnsw_index(many_vectors) -> None:  # type: ignore[no-untyped-def]
    items, vectors = many_vectors
    key = embedding_model_key()
    dimension = vectors.shape[1]
    statement = NEAR_DUPLICATES.format(
        table="searchapp_itemembedding",
        column=indexed_expression(dimension).as_string(connection.connection),
        storage=STORAGE,
        dimension=dimension,
    )
    params = {
        "model_key": key,
        "item_ids": [item.pk for item in items[:500]],
        "neighbours": 10,
        "min_score": 0.97,
    }

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + statement, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert f"Index Scan using {index_name(key)}" in plan, plan
