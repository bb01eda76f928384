from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from django.conf import settings
from django.test import override_settings
from PIL import Image

from bench.embedding import SENTENCE, WEIGHTS_NOTE, throughput
from bench.live_server import live_server
from bench.models import model_directory
from bench.scratch import database_url, scratch_database
from embeddings.engine.registry import get_model
from embeddings.keys import api_key_create
from searchapp.models import Item, Status

ROOT = Path(__file__).resolve().parent.parent
WORKER_READY_TIMEOUT_SEC = 300.0


def png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def wav(seed: int, seconds: float = 3.0, rate: int = 16000) -> bytes:
    samples = np.random.default_rng(seed).standard_normal(int(seconds * rate)) * 3000
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(samples.astype(np.int16).tobytes())
    return buffer.getvalue()


def upload(client: httpx.Client, key: str, index: int, *, texts_only: bool = False) -> None:
    """One upload through the library API, cycling image, audio and text."""
    headers = {"x-api-key": key}
    kind = 2 if texts_only else index % 3
    if kind == 0:
        files = {"file": (f"image-{index}.png", png(index), "image/png")}
        response = client.post("/api/items", files=files, headers=headers)
    elif kind == 1:
        files = {"file": (f"clip-{index}.wav", wav(index), "audio/wav")}
        response = client.post("/api/items", files=files, headers=headers)
    else:
        text = f"{SENTENCE} (note number {index})"
        response = client.post("/api/items", data={"text": text}, headers=headers)
    response.raise_for_status()


@contextmanager
def workers(count: int, data_dir: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    environment = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DATA_DIR": str(data_dir),
        "EMBEDDINGS_MODEL": settings.EMBEDDINGS_MODEL,
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "manage.py", "worker", "--interval", "0.05", "--no-startup-delay"]
    processes = [
        subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(count)
    ]
    try:
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)


def wait_until_done(
    expected: int, processes: list[subprocess.Popen[bytes]], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while Item.objects.filter(status__in=[Status.READY, Status.FAILED]).count() < expected:
        if time.monotonic() > deadline:
            raise TimeoutError(f"items not embedded within {timeout} s")
        if any(process.poll() is not None for process in processes):
            raise RuntimeError("a worker exited")
        time.sleep(0.02)
    failed = Item.objects.filter(status=Status.FAILED).values_list("error_message", flat=True)
    if failed:
        raise RuntimeError(f"items failed: {list(failed)[:3]}")


def one_run(
    *, worker_count: int, files: int, seed: int, texts_only: bool = False
) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as data_dir,
        override_settings(MEDIA_ROOT=str(Path(data_dir) / "media")),
        scratch_database(),
        live_server() as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        _, key = api_key_create(name="bench")
        with workers(worker_count, Path(data_dir)) as processes:
            for index in range(worker_count):  # every worker loads its model first
                upload(client, key, seed - index - 1)
            wait_until_done(worker_count, processes, WORKER_READY_TIMEOUT_SEC)
            started = time.perf_counter()
            for index in range(files):
                upload(client, key, seed + index, texts_only=texts_only)
            uploaded = time.perf_counter() - started
            wait_until_done(worker_count + files, processes, WORKER_READY_TIMEOUT_SEC)
            elapsed = time.perf_counter() - started
    return {
        "workers": worker_count,
        "files": files,
        "upload_sec": round(uploaded, 2),
        "total_sec": round(elapsed, 2),
        "files_per_sec": round(files / elapsed, 2),
    }


def run(*, files: int) -> dict[str, Any]:
    """Files per second from upload to searchable, with one and two workers."""
    settings.EMBEDDINGS_MODEL = str(model_directory("tiny"))
    runs = [one_run(worker_count=count, files=files, seed=count * 100_000) for count in (1, 2)]
    return {
        "model": "the tests' tiny random model, so the figure is the pipeline's own cost",
        "mix": "a third each: 320x240 PNG, 3 s WAV, short text; uploaded through POST /api/items",
        "runs": runs,
        "two_over_one_worker": round(runs[1]["files_per_sec"] / runs[0]["files_per_sec"], 2),
    }


def run_with_model(*, size: str, files: int, rounds: int) -> dict[str, Any]:
    """Text notes through one worker with a real-size model, against the engine's best batch."""
    settings.EMBEDDINGS_MODEL = str(model_directory(size))
    model = get_model()
    engine = throughput(model.embed_texts, SENTENCE, (1, 4, 16, 32), rounds)
    pipeline = one_run(worker_count=1, files=files, seed=500_000, texts_only=True)
    return {
        "model": f"{size}-size EmbeddingGemma 2 architecture",
        "weights": WEIGHTS_NOTE,
        "engine_text": engine,
        "pipeline": pipeline,
        "pipeline_over_engine_best_batch": round(
            pipeline["files_per_sec"] / engine["best_items_per_sec"], 3
        ),
    }
