"""The inference tier's hop: the same calls on a model in this process and through an inference
node (a separate gunicorn process, SERVER_ROLE=inference, the same model directory), taken in
turn, round by round, so both see the same machine."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from django.db import connection

from bench.media_factory import noise_image, sine
from bench.models import model_directory
from bench.processes import Processes, process_environment
from embeddings.conf import embeddings_settings
from embeddings.engine.base import EmbeddingModel
from embeddings.engine.registry import load_model
from embeddings.engine.remote import load_remote_model

SECRET = "bench-tiers"
QUERY = "a lighthouse on a rocky coast at dusk, waves breaking below"


def run(*, size: str, rounds: int) -> dict[str, Any]:
    model_dir = model_directory(size)
    config = replace(embeddings_settings().model, source=str(model_dir), device="cpu")
    with tempfile.TemporaryDirectory() as scratch:
        processes = Processes(
            env=process_environment(
                database=connection.settings_dict, data_dir=Path(scratch), model=str(model_dir)
            ),
            logs=Path(scratch) / "logs",
        )
        try:
            _, node = processes.web(
                ready_path="/inference/health",
                SERVER_ROLE="inference",
                EMBEDDINGS_INFERENCE_SECRET=SECRET,
                EMBEDDINGS_DEVICE="cpu",
            )
            remote = load_remote_model(
                replace(config, backend="remote", inference_urls=(node,), inference_secret=SECRET)
            )
            local = load_model(config)
            cases = _cases()
            for first in cases.values():  # the node's warm-up, and each path's first call
                first(local), first(remote)
            times = {name: _interleaved(it, local, remote, rounds) for name, it in cases.items()}
        finally:
            processes.stop()
    return {
        "model": f"{size}-size EmbeddingGemma 2 architecture, random weights",
        "measure": "median seconds of each call on a model in the bench's process (local) and "
        "through an inference node on this machine (remote: the arrays to the node over "
        "loopback HTTP, its forward pass, the vectors back), interleaved; remote_over_local "
        "is the hop's cost as a ratio; largest_vector_difference compares the two paths' vectors",
        "rounds": rounds,
        "calls": times,
    }


def _cases() -> dict[str, Callable[[EmbeddingModel], np.ndarray]]:
    texts = [f"{QUERY} ({index})" for index in range(16)]
    photos = [noise_image(seed, size=(640, 480)) for seed in range(4)]
    segments = [sine(10.0, sampling_rate=16_000)[0]] * 4
    return {
        "one query text (a search)": lambda model: model.embed_texts([QUERY]),
        "16 texts (a worker's batch)": lambda model: model.embed_texts(texts),
        "4 photos 640x480 (ingestion)": lambda model: model.embed_images(photos),
        "4 ten-second audio segments (ingestion)": lambda model: model.embed_audio(segments),
    }


def _interleaved(
    call: Callable[[EmbeddingModel], np.ndarray],
    local: EmbeddingModel,
    remote: EmbeddingModel,
    rounds: int,
) -> dict[str, float]:
    seconds: dict[str, list[float]] = {"local": [], "remote": []}
    for _ in range(rounds):
        for name, model in (("local", local), ("remote", remote)):
            started = time.perf_counter()
            call(model)
            seconds[name].append(time.perf_counter() - started)
    difference = np.abs(call(local) - call(remote)).max()
    local_sec = statistics.median(seconds["local"])
    remote_sec = statistics.median(seconds["remote"])
    return {
        "local_sec": round(local_sec, 4),
        "remote_sec": round(remote_sec, 4),
        "remote_over_local": round(remote_sec / local_sec, 3),
        "hop_ms": round(1000 * (remote_sec - local_sec), 1),
        "largest_vector_difference": float(difference),
    }
