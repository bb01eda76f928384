from __future__ import annotations

import hashlib

from django.db import connection
from psycopg import sql

from searchapp.models import ItemEmbedding

# m=16 / ef_construction=64 are pgvector's defaults; docs/performance.md will hold the tuning.
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64

_ensured: set[tuple[str, int]] = set()


def index_name(model_key: str) -> str:
    return "item_embedding_hnsw_" + hashlib.sha256(model_key.encode()).hexdigest()[:16]


def ensure_vector_index(*, model_key: str, dimension: int) -> None:
    """An HNSW cosine index over one model's vectors (the column itself has no fixed dimension)."""
    if (model_key, dimension) in _ensured:
        return
    statement = sql.SQL(
        "CREATE INDEX IF NOT EXISTS {name} ON {table} USING hnsw "
        "((embedding::vector({dimension})) vector_cosine_ops) "
        "WITH (m = {m}, ef_construction = {ef}) WHERE model_key = {key}"
    ).format(
        name=sql.Identifier(index_name(model_key)),
        table=sql.Identifier(ItemEmbedding._meta.db_table),
        dimension=sql.Literal(dimension),
        m=sql.Literal(HNSW_M),
        ef=sql.Literal(HNSW_EF_CONSTRUCTION),
        key=sql.Literal(model_key),
    )
    with connection.cursor() as cursor:
        cursor.execute(statement.as_string(cursor.connection))
    _ensured.add((model_key, dimension))
