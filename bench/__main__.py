from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import django

RESULTS = Path(__file__).resolve().parent / "results.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Benchmarks; prints JSON.")
    parser.add_argument("--parts", default="vector", help="Comma-separated: vector, vector-stress.")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--dimension", type=int, default=768)
    parser.add_argument("--ef", default="40,100,200", help="hnsw.ef_search values to try.")
    parser.add_argument(
        "--output", type=Path, default=None, help=f"Also write here (e.g. {RESULTS})."
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "searchapp.settings")
    django.setup()
    from bench import vector_search
    from bench.synthetic import Generator

    ef_values = tuple(int(value) for value in args.ef.split(","))
    report: dict[str, object] = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
    }
    parts = set(args.parts.split(","))
    if "vector" in parts:
        report["vector_search"] = vector_search.run(
            items=args.items,
            queries=args.queries,
            generator=Generator(dimension=args.dimension),
            ef_values=ef_values,
        )
    if "vector-stress" in parts:
        report["vector_search_isotropic_stress"] = vector_search.run(
            items=args.items,
            queries=args.queries,
            generator=Generator(dimension=args.dimension, isotropic=True),
            ef_values=ef_values,
        )
    text = json.dumps(report, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
