"""What splitting the vectors into shards does to recall and latency: the same vectors in one
table under one HNSW graph, and hash-partitioned into N tables under a graph each, which
PostgreSQL searches one by one and merges (a Merge Append of the partitions' index scans: the
per-shard top k merged, as Citus does across servers)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection
from pgvector import Vector
from pgvector.psycopg import register_vector
from psycopg import sql

from bench.scratch import scratch_database
from bench.synthetic import Generator, exact_top_k
from bench.vector_search import (
    Hnsw,
    K,
    described,
    percentiles,
    recall,
    server_settings,
    sql_runner,
    timed,
)
from searchapp.search.selectors import index_scan_settings
from searchapp.search.vector_index import STORAGE, cosine_distance, indexed_expression

TABLE = "bench_shards"


def run(
    *,
    items: int,
    queries: int,
    generator: Generator,
    partitions: tuple[int, ...],
    ef_values: tuple[int, ...],
    hnsw: Hnsw,
) -> dict[str, Any]:
    data = generator.vectors(items, stream=0)
    questions = generator.vectors(queries, stream=1)
    truth = exact_top_k(data, questions, K)
    report = described(items=items, queries=queries, generator=generator, hnsw=hnsw)
    report["layouts"] = []
    with scratch_database():
        report["server"] = server_settings()
        for count in (1, *partitions):
            report["layouts"].append(
                _layout(data, questions, truth, partitions=count, ef_values=ef_values, hnsw=hnsw)
            )
    return report


def _layout(
    data: np.ndarray,
    questions: np.ndarray,
    truth: np.ndarray,
    *,
    partitions: int,
    ef_values: tuple[int, ...],
    hnsw: Hnsw,
) -> dict[str, Any]:
    dimension = data.shape[1]
    _create(dimension, partitions=partitions)
    _load(data)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL(
                "CREATE INDEX ON {table} USING hnsw (({column}) {storage}_cosine_ops) "
                "WITH (m = {m}, ef_construction = {ef})"
            ).format(
                table=sql.Identifier(TABLE),
                column=indexed_expression(dimension),
                storage=sql.SQL(STORAGE),
                m=sql.Literal(hnsw["m"]),
                ef=sql.Literal(hnsw["ef_construction"]),
            )
        )
        build_sec = time.perf_counter() - started
        cursor.execute(
            "SELECT coalesce(sum(pg_indexes_size(oid)), 0) FROM pg_class "
            "WHERE relname = %s OR relname LIKE %s",
            [TABLE, f"{TABLE}\\_p%"],
        )
        index_bytes = int(cursor.fetchone()[0])
    statement = sql.SQL("SELECT item_id FROM {table} ORDER BY {distance} LIMIT {k}").format(
        table=sql.Identifier(TABLE), distance=cosine_distance(dimension), k=sql.Literal(K)
    )
    ids = np.arange(len(data))
    search = sql_runner(lambda query: (statement, {"query": Vector(query).to_text()}))
    runs = []
    for ef_search in ef_values:
        settings.SEARCH_EF_SEARCH = ef_search
        found, seconds = timed(search, questions)
        runs.append(
            {
                "ef_search": ef_search,
                "recall_at_10": recall(found, truth, ids),
                **percentiles(seconds),
            }
        )
    layout = {
        "partitions": partitions,
        "index_build_sec": round(build_sec, 2),
        "index_mb": round(index_bytes / 2**20, 1),
        "plan": _plan(statement, questions[0]),
        "runs": runs,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("DROP TABLE {table}").format(table=sql.Identifier(TABLE)))
    return layout


def _create(dimension: int, *, partitions: int) -> None:
    table = sql.Identifier(TABLE)
    columns = sql.SQL("(item_id bigint NOT NULL, embedding vector({dimension}) NOT NULL)").format(
        dimension=sql.Literal(dimension)
    )
    with connection.cursor() as cursor:
        if partitions == 1:
            cursor.execute(
                sql.SQL("CREATE TABLE {table} {columns}").format(table=table, columns=columns)
            )
            return
        cursor.execute(
            sql.SQL("CREATE TABLE {table} {columns} PARTITION BY HASH (item_id)").format(
                table=table, columns=columns
            )
        )
        for remainder in range(partitions):
            cursor.execute(
                sql.SQL(
                    "CREATE TABLE {partition} PARTITION OF {table} "
                    "FOR VALUES WITH (MODULUS {modulus}, REMAINDER {remainder})"
                ).format(
                    partition=sql.Identifier(f"{TABLE}_p{remainder}"),
                    table=table,
                    modulus=sql.Literal(partitions),
                    remainder=sql.Literal(remainder),
                )
            )


def _load(data: np.ndarray) -> None:
    raw = connection.connection
    register_vector(raw)
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY {TABLE} (item_id, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy,
    ):
        copy.set_types(["int8", "vector"])
        for index, vector in enumerate(data):
            copy.write_row((index, vector))
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("ANALYZE {table}").format(table=sql.Identifier(TABLE)))


def _plan(statement: sql.Composable, query: np.ndarray) -> dict[str, object]:
    """Whether the partitions' index scans are merged, and how many graphs the query reads."""
    raw = connection.connection
    with raw.transaction(), raw.cursor() as cursor:
        cursor.execute(*index_scan_settings(tag_filter=False))
        cursor.execute(sql.SQL("EXPLAIN ") + statement, {"query": Vector(query).to_text()})
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return {"merge_append": "Merge Append" in plan, "index_scans": plan.count("Index Scan using")}
