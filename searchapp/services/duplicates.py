from __future__ import annotations

from collections.abc import Callable, Sequence

from django.db import connection, transaction
from django.db.models import Q
from psycopg import sql

from searchapp.models import ItemEmbedding, NearDuplicate
from searchapp.search.vector_index import STORAGE, indexed_expression

# Nearest other items looked at per item. Copies of one photo or note are each other's nearest
# neighbours; more than this many copies still form one group, through each other.
NEIGHBOURS = 10
# The candidate list the index keeps per item (hnsw.ef_search): small, since near duplicates
# are the closest vectors there are, and the cost of each look-up grows with it.
EF_SEARCH = 40
BATCH_SIZE = 500

# Candidates come from the HNSW index (the per-model partial index, ordered by halfvec cosine
# distance, one index scan per item); their scores are then computed exactly, between the
# items' full-precision vectors (an audio item's segments averaged), so a pair's score does not
# depend on which of the two was looked up.
NEAR_DUPLICATES = """
WITH batch AS MATERIALIZED (
    SELECT item_id, l2_normalize(avg(embedding)) AS v FROM {table}
    WHERE model_key = %(model_key)s AND item_id = ANY(%(item_ids)s)
    GROUP BY item_id
), neighbours AS (
    SELECT DISTINCT batch.item_id AS a, near.item_id AS b FROM batch
    CROSS JOIN LATERAL (
        SELECT item_id FROM {table}
        WHERE model_key = %(model_key)s AND item_id <> batch.item_id
        ORDER BY {column} <=> batch.v::{storage}({dimension})
        LIMIT %(neighbours)s
    ) AS near
), means AS (
    SELECT item_id, l2_normalize(avg(embedding)) AS v FROM {table}
    WHERE model_key = %(model_key)s AND item_id IN (SELECT b FROM neighbours)
    GROUP BY item_id
)
SELECT least(a, b), greatest(a, b), max(1 - (batch.v <=> means.v))
FROM neighbours JOIN batch ON batch.item_id = a JOIN means ON means.item_id = b
WHERE 1 - (batch.v <=> means.v) >= %(min_score)s
GROUP BY 1, 2
"""


def duplicates_find(*, item_ids: Sequence[int], model_key: str, min_score: float) -> int:
    """Look up these items' near duplicates and store them, replacing the pairs they had."""
    dimension = _dimension(model_key)
    with transaction.atomic():
        NearDuplicate.objects.filter(
            Q(item_id__in=item_ids) | Q(other_id__in=item_ids), model_key=model_key
        ).delete()
        if dimension is None:
            return 0
        pairs = _near_pairs(
            item_ids=item_ids, model_key=model_key, min_score=min_score, dimension=dimension
        )
        NearDuplicate.objects.bulk_create(
            [
                NearDuplicate(item_id=a, other_id=b, model_key=model_key, score=score)
                for a, b, score in pairs
            ],
            ignore_conflicts=True,
        )
    return len(pairs)


def duplicates_find_all(
    *,
    model_key: str,
    min_score: float,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Every item's near duplicates, found afresh (after SEARCH_DUPLICATE_MIN_SCORE changed)."""
    NearDuplicate.objects.filter(model_key=model_key).delete()
    item_ids = sorted(
        ItemEmbedding.objects.filter(model_key=model_key)
        .values_list("item_id", flat=True)
        .distinct()
    )
    for start in range(0, len(item_ids), batch_size):
        batch = item_ids[start : start + batch_size]
        duplicates_find(item_ids=batch, model_key=model_key, min_score=min_score)
        if progress is not None:
            progress(start + len(batch), len(item_ids))
    return NearDuplicate.objects.filter(model_key=model_key).count()


def _dimension(model_key: str) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT vector_dims(embedding) FROM {ItemEmbedding._meta.db_table} "
            "WHERE model_key = %s LIMIT 1",
            [model_key],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else None


def _near_pairs(
    *, item_ids: Sequence[int], model_key: str, min_score: float, dimension: int
) -> list[tuple[int, int, float]]:
    statement = sql.SQL(NEAR_DUPLICATES).format(
        table=sql.Identifier(ItemEmbedding._meta.db_table),
        column=indexed_expression(dimension),
        storage=sql.SQL(STORAGE),
        dimension=sql.Literal(dimension),
    )
    params: dict[str, str | list[int] | float] = {
        "model_key": model_key,
        "item_ids": list(item_ids),
        "neighbours": NEIGHBOURS,
        "min_score": min_score,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(EF_SEARCH)])
        cursor.execute(statement.as_string(cursor.connection), params)
        return [(int(a), int(b), float(score)) for a, b, score in cursor.fetchall()]
