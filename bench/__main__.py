from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import django

RESULTS = Path(__file__).resolve().parent / "results.json"
SPEED_FLAGS = frozenset({"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "bf16"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Benchmarks; prints JSON.")
    parser.add_argument(
        "--parts",
        default="vector,embedding,api,ingestion,ingestion-model,http,slow-clients,memory,tiers",
        help=(
            "Comma-separated: vector, vector-stress, embedding, precision, threads, api, "
            "ingestion, ingestion-model, http, slow-clients, memory, server-memory, duplicates, "
            "video, tiers, shards, shards-stress."
        ),
    )
    parser.add_argument(
        "--model",
        default="full",
        help=(
            "For the embedding, precision, threads, api, server-memory, video and tiers parts: "
            "full or "
            "tiny "
            "(random weights of the real architecture), or the directory of a real checkpoint."
        ),
    )
    parser.add_argument(
        "--inputs", type=int, default=20, help="Real photos, sounds and texts per precision case."
    )
    parser.add_argument("--rounds", type=int, default=3, help="Timed batches per batch size.")
    parser.add_argument("--requests", type=int, default=30, help="Requests for the api part.")
    parser.add_argument("--files", type=int, default=150, help="Uploads for the ingestion part.")
    parser.add_argument(
        "--seconds", type=int, default=15, help="Duration of each http and slow-clients run."
    )
    parser.add_argument(
        "--slow-clients", type=int, default=8, help="Slow-body and slow-fetch clients, each."
    )
    parser.add_argument("--audio-seconds", type=float, default=3600, help="For the memory part.")
    parser.add_argument("--megapixels", type=float, default=50, help="For the memory part.")
    parser.add_argument(
        "--video-seconds",
        type=float,
        default=60,
        help="Video embedded for the video part's throughput.",
    )
    parser.add_argument(
        "--video-memory-seconds",
        type=float,
        default=3600,
        help="Video embedded (by the tiny model) for the video part's memory.",
    )
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--dimension", type=int, default=768)
    parser.add_argument("--ef", default="40,100,200", help="hnsw.ef_search values to try.")
    parser.add_argument(
        "--partitions",
        default="4",
        help="For the shards parts: partition counts to compare with one table.",
    )
    parser.add_argument("--m", type=int, default=None, help="HNSW m (default: the product's).")
    parser.add_argument("--ef-construction", type=int, default=None)
    parser.add_argument(
        "--compare-storage",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Also build a full-precision vector index and compare it.",
    )
    parser.add_argument(
        "--output", type=Path, default=None, help=f"Also write here (e.g. {RESULTS})."
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "searchapp.settings")
    django.setup()
    from bench import (
        duplicates,
        embedding,
        http_load,
        ingestion,
        memory,
        precision,
        shards,
        slow_clients,
        threads,
        tiers,
        vector_search,
        video,
    )
    from bench.synthetic import Generator
    from embeddings.engine.device import cpu_feature_flags
    from searchapp.search.vector_index import HNSW_EF_CONSTRUCTION, HNSW_M

    ef_values = tuple(int(value) for value in args.ef.split(","))
    report: dict[str, object] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            # What decides the engine's defaults, and so which results compare.
            "cpu_flags": sorted(cpu_feature_flags() & SPEED_FLAGS),
        },
    }
    hnsw: vector_search.Hnsw = {
        "m": args.m or HNSW_M,
        "ef_construction": args.ef_construction or HNSW_EF_CONSTRUCTION,
    }
    parts = set(args.parts.split(","))
    if "vector" in parts:
        report["vector_search"] = vector_search.run(
            items=args.items,
            queries=args.queries,
            generator=Generator(dimension=args.dimension),
            ef_values=ef_values,
            hnsw=hnsw,
            compare_storage=args.compare_storage,
        )
    if "vector-stress" in parts:
        report["vector_search_isotropic_stress"] = vector_search.run(
            items=args.items,
            queries=args.queries,
            generator=Generator(dimension=args.dimension, isotropic=True),
            ef_values=ef_values,
            hnsw=hnsw,
            compare_storage=args.compare_storage,
        )
    for part, isotropic in (("shards", False), ("shards-stress", True)):
        if part in parts:
            report[part.replace("-", "_")] = shards.run(
                items=args.items,
                queries=args.queries,
                generator=Generator(dimension=args.dimension, isotropic=isotropic),
                partitions=tuple(int(value) for value in args.partitions.split(",")),
                ef_values=ef_values,
                hnsw=hnsw,
            )
    if "duplicates" in parts:
        report["near_duplicates"] = duplicates.run(
            items=args.items, generator=Generator(dimension=args.dimension)
        )
    if "embedding" in parts:
        report["embedding_throughput"] = embedding.engine_throughput(
            size=args.model, rounds=args.rounds
        )
    if "precision" in parts:
        report["precision"] = precision.run(size=args.model, inputs=args.inputs, rounds=args.rounds)
    if "threads" in parts:
        report["threads"] = threads.run(size=args.model, seconds=args.seconds)
    if "api" in parts:
        report["api_overhead"] = embedding.api_overhead(size=args.model, requests=args.requests)
    if "ingestion" in parts:
        report["ingestion"] = ingestion.run(files=args.files)
    if "ingestion-model" in parts:
        report["ingestion_with_model"] = ingestion.run_with_model(
            size=args.model, files=args.files, rounds=args.rounds
        )
    if "http" in parts:
        report["http_load"] = http_load.run(items=args.items, seconds=args.seconds)
    if "slow-clients" in parts:
        report["slow_clients"] = slow_clients.run(seconds=args.seconds, clients=args.slow_clients)
    if "memory" in parts:
        report["memory"] = memory.run(
            audio_seconds=args.audio_seconds, image_megapixels=args.megapixels
        )
    if "server-memory" in parts:
        report["server_memory"] = memory.servers(size=args.model)
    if "video" in parts:
        report["video"] = video.run(
            size=args.model,
            throughput_seconds=args.video_seconds,
            memory_seconds=args.video_memory_seconds,
        )
    if "tiers" in parts:
        report["inference_tier"] = tiers.run(size=args.model, rounds=args.rounds)
    text = json.dumps(report, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
