from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypedDict

import numpy as np
from django.conf import settings
from django.db import connection
from pgvector import Vector
from pgvector.psycopg import register_vector
from psycopg import sql

from bench.scratch import scratch_database
from bench.synthetic import Generator, exact_top_k
from searchapp.search.selectors import index_scan_settings, nearest_segments, nearest_segments_query
from searchapp.search.vector_index import (
    STORAGE,
    cosine_distance,
    create_index_statement,
    index_name,
)

MODEL_KEY = "bench/synthetic"
MODALITIES = ("image", "audio", "text")
K = 10
MAINTENANCE_WORK_MEM = "8GB"  # enough to build a 1M-item graph in memory


class Hnsw(TypedDict):
    """How the graph is built (create_index_statement's parameters)."""

    m: int
    ef_construction: int


def load(vectors: np.ndarray, model_key: str = MODEL_KEY) -> np.ndarray:
    """Items and their vectors (a third of each modality); returns the item ids in row order."""
    count = len(vectors)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO searchapp_item (modality, file, thumbnail, text, original_filename,
                content_hash, title, description, tags, source_url, mime_type, size_bytes,
                hidden, status, error_message, embedded_with, created_at, updated_at)
            SELECT (ARRAY['image', 'audio', 'text'])[1 + (i %% 3)], 'bench/' || i, '', 'x' || i, '',
                md5(i::text) || md5((i + 1)::text), '', '', '{}', '', '', 0,
                false, 'ready', '', %s, now(), now()
            FROM generate_series(0, %s - 1) AS i ORDER BY i
            """,
            [model_key, count],
        )
        cursor.execute("SELECT id FROM searchapp_item ORDER BY id")
        ids = np.array([row[0] for row in cursor.fetchall()])
    raw = connection.connection
    register_vector(raw)
    columns = "item_id, model_key, segment, modality, hidden, tags, embedding"
    with (
        raw.cursor() as cursor,
        cursor.copy(
            f"COPY searchapp_itemembedding ({columns}) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(["int8", "varchar", "int4", "varchar", "bool", "varchar[]", "vector"])
        for index, vector in enumerate(vectors):
            copy.write_row(
                (int(ids[index]), model_key, 0, MODALITIES[index % 3], False, [], vector)
            )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE searchapp_item")
        cursor.execute("ANALYZE searchapp_itemembedding")
    return ids


def percentiles(samples: list[float]) -> dict[str, float]:
    values = np.asarray(samples) * 1000
    return {f"p{p}_ms": round(float(np.percentile(values, p)), 3) for p in (50, 95, 99)}


def timed(
    run: Callable[[np.ndarray], list[int]], queries: np.ndarray
) -> tuple[list[list[int]], list[float]]:
    results, seconds = [], []
    for query in queries:
        started = time.perf_counter()
        results.append(run(query))
        seconds.append(time.perf_counter() - started)
    return results, seconds


def recall(found: list[list[int]], truth: np.ndarray, ids: np.ndarray) -> float:
    expected = [set(ids[row].tolist()) for row in truth]
    return round(
        float(np.mean([len(set(f[:K]) & e) / K for f, e in zip(found, expected, strict=True)])), 4
    )


Statement = tuple[sql.Composable, dict[str, Any]]


def sql_runner(statement: Callable[[np.ndarray], Statement]) -> Callable[[np.ndarray], list[int]]:
    """A query's statement sent straight through psycopg in the product's search settings
    (ef_search from SEARCH_EF_SEARCH, no sort), without the product's code around it."""
    raw = connection.connection

    def run(query: np.ndarray) -> list[int]:
        with raw.transaction(), raw.cursor() as cursor:
            cursor.execute(*index_scan_settings(tag_filter=False))
            cursor.execute(*statement(query))
            return [row[0] for row in cursor.fetchall()]

    return run


def raw_sql_runner(modality: str | None) -> Callable[[np.ndarray], list[int]]:
    """The selector's statements, without the product's code."""
    return sql_runner(
        lambda query: nearest_segments_query(
            vector=query, model_key=MODEL_KEY, limit=K, modality=modality
        )
    )


def selector_runner(modality: str | None) -> Callable[[np.ndarray], list[int]]:
    def run(query: np.ndarray) -> list[int]:
        rows = nearest_segments(vector=query, model_key=MODEL_KEY, limit=K, modality=modality)
        return [row[0] for row in rows]

    return run


def plan_uses_index(query: np.ndarray, *, modality: str | None) -> bool:
    statement, params = nearest_segments_query(
        vector=query, model_key=MODEL_KEY, limit=K, modality=modality
    )
    raw = connection.connection
    with raw.transaction(), raw.cursor() as cursor:
        cursor.execute(*index_scan_settings(tag_filter=False))
        cursor.execute(sql.SQL("EXPLAIN ") + statement, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return f"Index Scan using {index_name(MODEL_KEY)}" in plan


def full_precision_run(
    queries: np.ndarray, *, dimension: int, ef_search: int, hnsw: Hnsw
) -> tuple[list[list[int]], list[float], dict[str, Any]]:
    """The same graph over `vector` instead of the product's `halfvec`, for comparison."""
    raw = connection.connection
    name = index_name(MODEL_KEY, storage="vector")
    started = time.perf_counter()
    with raw.cursor() as cursor:
        cursor.execute(
            create_index_statement(
                model_key=MODEL_KEY, dimension=dimension, storage="vector", **hnsw
            )
        )
    build = time.perf_counter() - started
    statement = sql.SQL(
        "SELECT item_id FROM searchapp_itemembedding WHERE model_key = %(key)s AND NOT hidden "
        "ORDER BY {distance} LIMIT {k}"
    ).format(distance=cosine_distance(dimension, storage="vector"), k=sql.Literal(K))

    def run(query: np.ndarray) -> list[int]:
        with raw.transaction(), raw.cursor() as cursor:
            cursor.execute(f"SET LOCAL hnsw.ef_search = {ef_search}")
            cursor.execute(
                statement,
                {"key": MODEL_KEY, "query": Vector(query).to_text()},
            )
            return [row[0] for row in cursor.fetchall()]

    found, seconds = timed(run, queries)
    with raw.cursor() as cursor:
        cursor.execute("SELECT pg_relation_size(%s::regclass)", [name])
        (size,) = cursor.fetchone()
        cursor.execute(sql.SQL("DROP INDEX {name}").format(name=sql.Identifier(name)))
    return found, seconds, {"build_sec": round(build, 2), "index_mb": round(size / 2**20, 1)}


def described(*, items: int, queries: int, generator: Generator, hnsw: Hnsw) -> dict[str, Any]:
    """What a vector search report measured, before its figures."""
    return {
        "items": items,
        "queries": queries,
        "generator": generator.describe(),
        "hnsw": hnsw,
        "storage": STORAGE,
        "exact_search": "numpy brute force over the same vectors, in the same run",
    }


def server_settings() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SET maintenance_work_mem = '{MAINTENANCE_WORK_MEM}'")
        cursor.execute("SET max_parallel_maintenance_workers = 1")
        found = {}
        for name in ("shared_buffers", "maintenance_work_mem", "max_parallel_maintenance_workers"):
            cursor.execute(sql.SQL("SHOW {name}").format(name=sql.Identifier(name)))
            found[name] = cursor.fetchone()[0]
    return found


def run(
    *,
    items: int,
    queries: int,
    generator: Generator,
    ef_values: tuple[int, ...],
    hnsw: Hnsw,
    compare_storage: bool = True,
) -> dict[str, Any]:
    data = generator.vectors(items, stream=0)
    questions = generator.vectors(queries, stream=1)
    modality_mask = np.arange(items) % 3 == 0  # the "image" third
    truth = exact_top_k(data, questions, K)
    filtered_truth = exact_top_k(data, questions, K, mask=modality_mask)
    report = described(items=items, queries=queries, generator=generator, hnsw=hnsw)
    with scratch_database():
        started = time.perf_counter()
        ids = load(data)
        report["load_sec"] = round(time.perf_counter() - started, 2)
        report["server"] = server_settings()
        started = time.perf_counter()
        with connection.cursor() as cursor:
            statement = create_index_statement(
                model_key=MODEL_KEY, dimension=generator.dimension, **hnsw
            )
            cursor.execute(statement.as_string(cursor.connection))
        report["index_build_sec"] = round(time.perf_counter() - started, 2)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_relation_size(%s::regclass)", [index_name(MODEL_KEY)])
            report["index_mb"] = round(cursor.fetchone()[0] / 2**20, 1)
        runs = []
        for ef_search in ef_values:
            settings.SEARCH_EF_SEARCH = ef_search
            for modality, expected in ((None, truth), ("image", filtered_truth)):
                raw_found, raw_seconds = timed(raw_sql_runner(modality), questions)
                found, seconds = timed(selector_runner(modality), questions)
                runs.append(
                    {
                        "ef_search": ef_search,
                        "filter": f"modality={modality} (1 in 3)" if modality else None,
                        "uses_hnsw_index": plan_uses_index(questions[0], modality=modality),
                        "recall_at_10": recall(found, expected, ids),
                        "raw_sql_recall_at_10": recall(raw_found, expected, ids),
                        "selector": percentiles(seconds),
                        "raw_sql": percentiles(raw_seconds),
                        "selector_over_raw_sql_p50": round(
                            float(np.median(seconds) / np.median(raw_seconds)), 3
                        ),
                    }
                )
        report["runs"] = runs
        if compare_storage:
            full_found, full_seconds, full_index = full_precision_run(
                questions, dimension=generator.dimension, ef_search=max(ef_values), hnsw=hnsw
            )
            report["full_precision_vector_storage"] = {
                "ef_search": max(ef_values),
                **full_index,
                "recall_at_10": recall(full_found, truth, ids),
                **percentiles(full_seconds),
            }
    return report
