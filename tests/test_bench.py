from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.synthetic import Generator, exact_top_k

ROOT = Path(__file__).resolve().parent.parent


def test_generator_gives_unit_vectors_with_a_low_intrinsic_dimension() -> None:
    vectors = Generator(dimension=128, subspace=16, noise=0.01).vectors(2000)

    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    singular = np.linalg.svd(vectors - vectors.mean(axis=0), compute_uv=False)
    explained = np.cumsum(singular**2) / np.sum(singular**2)
    assert explained[15] > 0.95


def test_exact_top_k_respects_the_mask() -> None:
    data = Generator(dimension=32, subspace=8).vectors(500)
    mask = np.arange(500) % 3 == 0

    top = exact_top_k(data, data[:5], 10, mask=mask)

    assert mask[top].all()
    assert top[0, 0] == 0 and top[3, 0] == 3


def run_bench(tmp_path: Path, *arguments: str) -> dict[str, Any]:
    output = tmp_path / "results.json"
    completed = subprocess.run(
        [sys.executable, "-m", "bench", *arguments, "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(output.read_text())


@pytest.mark.bench
def test_the_vector_benchmark_runs_at_a_tiny_size(tmp_path: Path) -> None:
    report = run_bench(
        tmp_path,
        "--parts",
        "vector",
        "--items",
        "600",
        "--queries",
        "5",
        "--dimension",
        "32",
        "--ef",
        "40",
    )["vector_search"]

    assert report["items"] == 600
    assert report["storage"] == "halfvec"
    for run in report["runs"]:
        assert 0.0 <= run["recall_at_10"] <= 1.0
        assert run["selector"]["p50_ms"] > 0
    assert report["full_precision_vector_storage"]["recall_at_10"] > 0


@pytest.mark.bench
def test_the_shards_benchmark_compares_one_graph_with_merged_partitions_at_a_tiny_size(
    tmp_path: Path,
) -> None:
    report = run_bench(
        tmp_path,
        "--parts",
        "shards",
        "--items",
        "600",
        "--queries",
        "5",
        "--dimension",
        "32",
        "--ef",
        "40",
        "--partitions",
        "3",
    )["shards"]

    one, split = report["layouts"]
    assert (one["partitions"], split["partitions"]) == (1, 3)
    assert one["plan"] == {"merge_append": False, "index_scans": 1}
    # Each partition's graph is read, and their top rows merged in distance order.
    assert split["plan"] == {"merge_append": True, "index_scans": 3}
    for layout in (one, split):
        assert 0.5 < layout["runs"][0]["recall_at_10"] <= 1.0
        assert layout["runs"][0]["p50_ms"] > 0


@pytest.mark.bench
def test_the_near_duplicates_benchmark_finds_the_planted_copies_at_a_tiny_size(
    tmp_path: Path,
) -> None:
    report = run_bench(tmp_path, "--parts", "duplicates", "--items", "1000", "--dimension", "32")[
        "near_duplicates"
    ]

    assert report["planted_copies"] == 10
    assert report["whole_library"]["planted_pairs_found"] == 1.0
    assert report["page_groups"]["groups"] >= 10
    assert report["one_item_as_embedded"]["p50_ms"] > 0


@pytest.mark.bench
def test_the_precision_benchmark_compares_each_path_with_float32_on_real_media(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    # A checkpoint's directory, as a user measures their own model.
    model = str(tiny_model_dir)
    report = run_bench(
        tmp_path, "--parts", "precision", "--model", model, "--inputs", "3", "--rounds", "1"
    )["precision"]

    assert report["model"] == model
    assert report["inputs"] == {"photos": 3, "sounds": 3, "texts": 3}
    audio = "audio (a sound's first segment, up to 10 s)"
    for case in ("image at 70 tokens", "image at 280 tokens", audio, "one text (a search query)"):
        assert set(report[case]) == {
            "float32",
            "bfloat16-towers",
            "bfloat16",
            "openvino, float32",
            "openvino, bfloat16-towers",
        }
        assert report[case]["float32"]["cosine_to_float32"] == {"min": 1.0, "median": 1.0}
        assert report[case]["float32"]["time_vs_float32"] == 1.0
        assert all(path["median_sec"] > 0 for path in report[case].values())
    towers = report[audio]["bfloat16-towers"]
    assert towers["faithful"] == (towers["cosine_to_float32"]["min"] >= 0.99)
    assert report[audio]["openvino, float32"]["cosine_to_float32"]["min"] >= 0.999
    budgets = report["image budget vs 280 tokens (float32 vectors of the same photo)"]
    assert budgets["70 tokens"]["median"] < 1.0


@pytest.mark.bench
def test_the_model_and_pipeline_benchmarks_run_at_a_tiny_size(tmp_path: Path) -> None:
    report = run_bench(
        tmp_path,
        "--parts",
        "embedding,threads,api,ingestion,ingestion-model,http,slow-clients,memory,server-memory,"
        "tiers",
        "--model",
        "tiny",
        "--rounds",
        "1",
        "--requests",
        "3",
        "--files",
        "3",
        "--items",
        "300",
        # Long enough that 32 clients complete searches on a machine busy with other tests.
        "--seconds",
        "3",
        "--slow-clients",
        "1",
        "--audio-seconds",
        "20",
        "--megapixels",
        "1",
    )

    text = report["embedding_throughput"]["text (10-15 words)"]
    assert text["best_items_per_sec"] >= text["batch_1_items_per_sec"] > 0
    assert report["api_overhead"]["api_over_engine_p50"] > 0
    split = report["threads"]["two processes, cores split"]
    assert len(split["images_per_sec"]) == 2 and all(rate > 0 for rate in split["images_per_sec"])
    assert split["total_images_per_sec"] == pytest.approx(sum(split["images_per_sec"]), abs=0.01)
    alone = [run for name, run in report["threads"].items() if name.startswith("one process")]
    assert {run["idle_threads"] for run in alone} == {"spin", "sleep", "spin briefly"}
    assert any(run["beside_busy_process"] for run in alone)
    assert all(run["text_query_p50_ms"] > 0 for run in alone)
    assert [run["workers"] for run in report["ingestion"]["runs"]] == [1, 2]
    assert all(run["worker_files_per_sec"] > 0 for run in report["ingestion"]["runs"])
    assert all(run["upload_files_per_sec"] > 0 for run in report["ingestion"]["runs"])
    assert report["ingestion_with_model"]["pipeline_over_engine_best_batch"] > 0
    for run in report["http_load"]["runs"]:
        assert run["requests"] > 0
        assert run["non_2xx_responses"] == 0 and run["socket_errors"] == 0
    before, now, proxied = report["slow_clients"]["runs"]
    assert "before" in before["server"] and "nginx" in proxied["server"]
    for run in (before, now, proxied):
        assert run["probes"] > 0 and run["probes_timed_out"] == 0
        assert run["get_root_ms"]["p95"] > 0
    short_audio, audio, jpeg, png = report["memory"]["cases"]
    assert short_audio["vectors"] == 1  # a sixth of 20 s: one segment
    assert audio["vectors"] == 2  # 20 s: two 10-second segments
    assert jpeg["vectors"] == png["vectors"] == 1
    everything, text_and_images, text_only = report["server_memory"]["servers"]
    assert everything["modalities"] == "text,image,audio" and text_only["modalities"] == "text"
    assert (
        everything["torch_parameters"]
        > text_and_images["torch_parameters"]
        > text_only["torch_parameters"]
    )
    assert all(
        kind["rss_peak_mb"] >= kind["rss_after_warm_up_mb"] > 0 for kind in (everything, text_only)
    )
    calls = report["inference_tier"]["calls"]
    assert len(calls) == 4
    for call in calls.values():
        assert call["local_sec"] > 0 and call["remote_sec"] > 0
        assert call["largest_vector_difference"] < 1e-6  # the same vectors


@pytest.mark.bench
def test_the_video_benchmark_runs_at_a_tiny_size(tmp_path: Path) -> None:
    report = run_bench(
        tmp_path,
        "--parts",
        "video",
        "--model",
        "tiny",
        "--video-seconds",
        "6",
        "--video-memory-seconds",
        "20",
    )["video"]

    rates = report["throughput"]["video_sec_per_sec_by_option"]
    assert set(rates) == {"visual", "audio", "fused"} and all(rate > 0 for rate in rates.values())
    assert report["throughput"]["decoding_only_video_sec_per_sec"] > 0
    short, long = report["memory"]["cases"]
    # 4 clips of 6 s (the last one 2 s), 3 options, and an asset vector for each option.
    assert long["embeddings"] == 4 * 3 + 3
    assert short["embeddings"] == 1 * 3 + 3
    assert long["rss_peak_growth_mb"] > 0
