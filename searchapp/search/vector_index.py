from __future__ import annotations

import hashlib

from django.db import connection
from psycopg import sql

from searchapp.models import ItemEmbedding
from searchapp.search.caches import search_caches

# Vectors are stored at full precision and indexed as halfvec: half the index memory and
# faster scans for a recall loss under 0.005 (docs/performance.md), and up to 4,000 dimensions.
STORAGE = "halfvec"
# pgvector's defaults (16 / 64) top out at recall@10 0.91 on 1M embedding-shaped vectors;
# these reach 0.987 at ef_search 100 (docs/performance.md).
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 128


def index_name(model_key: str, *, storage: str = STORAGE) -> str:
    return f"item_embedding_{storage}_" + hashlib.sha256(model_key.encode()).hexdigest()[:16]


def indexed_expression(dimension: int, *, storage: str = STORAGE) -> sql.Composable:
    return sql.SQL("embedding::{storage}({dimension})").format(
        storage=sql.SQL(storage), dimension=sql.Literal(dimension)
    )


def cosine_distance(dimension: int, *, storage: str = STORAGE) -> sql.Composable:
    """The distance the index orders by, from the stored vectors to the `query` parameter."""
    return sql.SQL("{column} <=> %(query)s::{storage}({dimension})").format(
        column=indexed_expression(dimension, storage=storage),
        storage=sql.SQL(storage),
        dimension=sql.Literal(dimension),
    )


def create_index_statement(
    *,
    model_key: str,
    dimension: int,
    m: int = HNSW_M,
    ef_construction: int = HNSW_EF_CONSTRUCTION,
    storage: str = STORAGE,
) -> sql.Composable:
    """`storage` other than the product's is for benchmarks that compare the two."""
    return sql.SQL(
        "CREATE INDEX IF NOT EXISTS {name} ON {table} USING hnsw "
        "(({column}) {storage}_cosine_ops) "
        "WITH (m = {m}, ef_construction = {ef}) WHERE model_key = {key}"
    ).format(
        name=sql.Identifier(index_name(model_key, storage=storage)),
        table=sql.Identifier(ItemEmbedding._meta.db_table),
        column=indexed_expression(dimension, storage=storage),
        storage=sql.SQL(storage),
        m=sql.Literal(m),
        ef=sql.Literal(ef_construction),
        key=sql.Literal(model_key),
    )


def ensure_vector_index(*, model_key: str, dimension: int) -> None:
    """An HNSW cosine index over one model's vectors (the column itself has no fixed dimension)."""
    if (model_key, dimension) in search_caches.ensured_indexes:
        return
    with connection.cursor() as cursor:
        statement = create_index_statement(model_key=model_key, dimension=dimension)
        cursor.execute(statement.as_string(cursor.connection))
    search_caches.ensured_indexes.add((model_key, dimension))
