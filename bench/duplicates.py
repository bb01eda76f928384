"""Near duplicates over synthetic vectors: the whole library scanned (manage.py find_duplicates),
one item looked up as it is embedded, and the duplicates page's read."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from django.db import connection

from bench.scratch import scratch_database
from bench.synthetic import Generator
from bench.vector_search import MODEL_KEY, load, percentiles, server_settings
from searchapp.models import NearDuplicate
from searchapp.search.selectors import near_duplicate_groups
from searchapp.search.vector_index import create_index_statement
from searchapp.services.duplicates import duplicates_find, duplicates_find_all

MIN_SCORE = 0.97
# A planted copy sits at cosine similarity about 0.99 from its original (a re-encoded photo).
COPY_NOISE = 0.14
LOOKUPS = 200


def with_copies(
    data: np.ndarray, *, fraction: float, seed: int = 7
) -> tuple[np.ndarray, set[tuple[int, int]]]:
    """The last `fraction` of the rows replaced by near copies of rows before them."""
    rng = np.random.default_rng(seed)
    count = int(len(data) * fraction)
    originals = rng.choice(len(data) - count, size=count, replace=False)
    copies = np.arange(len(data) - count, len(data))
    noise = rng.standard_normal((count, data.shape[1])).astype(np.float32)
    noise *= COPY_NOISE / np.linalg.norm(noise, axis=1, keepdims=True)
    moved = data[originals] + noise
    data = data.copy()
    data[copies] = moved / np.linalg.norm(moved, axis=1, keepdims=True)
    return data, {(int(a), int(b)) for a, b in zip(originals, copies, strict=True)}


def timed_lookups(item_ids: list[int], *, batch: int) -> list[float]:
    seconds = []
    for start in range(0, len(item_ids) - batch + 1, batch):
        started = time.perf_counter()
        duplicates_find(
            item_ids=item_ids[start : start + batch], model_key=MODEL_KEY, min_score=MIN_SCORE
        )
        seconds.append(time.perf_counter() - started)
    return seconds


def run(*, items: int, generator: Generator, fraction: float = 0.01) -> dict[str, Any]:
    data, planted = with_copies(generator.vectors(items), fraction=fraction)
    report: dict[str, Any] = {
        "items": items,
        "generator": generator.describe(),
        "planted_copies": len(planted),
        "min_score": MIN_SCORE,
    }
    with scratch_database():
        ids = load(data)
        report["server"] = server_settings()
        started = time.perf_counter()
        with connection.cursor() as cursor:
            statement = create_index_statement(model_key=MODEL_KEY, dimension=generator.dimension)
            cursor.execute(statement.as_string(cursor.connection))
        report["index_build_sec"] = round(time.perf_counter() - started, 2)

        started = time.perf_counter()
        found = duplicates_find_all(model_key=MODEL_KEY, min_score=MIN_SCORE)
        seconds = time.perf_counter() - started
        report["whole_library"] = {
            "seconds": round(seconds, 1),
            "items_per_sec": round(items / seconds),
            "pairs_found": found,
        }
        pairs = set(NearDuplicate.objects.values_list("item_id", "other_id"))
        expected = {(int(ids[a]), int(ids[b])) for a, b in planted}
        report["whole_library"]["planted_pairs_found"] = len(pairs & expected) / len(expected)

        sample = np.random.default_rng(3).choice(ids, size=LOOKUPS, replace=False).tolist()
        report["one_item_as_embedded"] = percentiles(timed_lookups(sample, batch=1))
        # A worker embeds queued text notes EMBEDDINGS_BATCH_SIZE (16) at a time.
        report["text_batch_of_16_as_embedded"] = percentiles(timed_lookups(sample, batch=16))

        reads = []
        for _ in range(5):
            started = time.perf_counter()
            groups = near_duplicate_groups(model_key=MODEL_KEY, min_score=MIN_SCORE)
            reads.append(time.perf_counter() - started)
        report["page_groups"] = {"groups": len(groups), **percentiles(reads)}
    return report
