from __future__ import annotations

import subprocess
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings
from django.db.models import Max, Min

from bench.embedding import WEIGHTS_NOTE, throughput
from bench.media_factory import SENTENCE, encode_audio, encode_image, noise, noise_image
from bench.models import model_directory
from bench.processes import Processes, app_processes, wait_for
from bench.scratch import scratch_database
from embeddings.engine.registry import get_model
from embeddings.keys import api_key_create
from searchapp.models import Item, Status

WORKER_READY_TIMEOUT_SEC = 300.0


def note(index: int) -> str:
    return f"{SENTENCE} (note number {index})"


def upload(client: httpx.Client, key: str, index: int, *, texts_only: bool = False) -> None:
    """One upload through the library API, cycling image, audio and text."""
    kind = 2 if texts_only else index % 3
    body: dict[str, Any]
    if kind == 0:
        image = encode_image(noise_image(index, size=(320, 240)), "png")
        body = {"files": {"file": (f"image-{index}.png", image, "image/png")}}
    elif kind == 1:
        clip = encode_audio(noise(3.0, sampling_rate=16000, seed=index), "wav", sampling_rate=16000)
        body = {"files": {"file": (f"clip-{index}.wav", clip, "audio/wav")}}
    else:
        body = {"data": {"text": note(index)}}
    client.post("/api/items", headers={"x-api-key": key}, **body).raise_for_status()


def start_workers(processes: Processes, count: int) -> list[subprocess.Popen[bytes]]:
    """Worker processes, once every one has loaded its model (EMBEDDINGS_WARM_UP logs it)."""
    started = [processes.worker() for _ in range(count)]
    for worker in started:
        wait_for(partial(_ready, processes, worker), seconds=WORKER_READY_TIMEOUT_SEC)
    return started


def _ready(processes: Processes, worker: subprocess.Popen[bytes]) -> bool:
    return "Embedding model ready" in processes.output(worker) and worker.poll() is None


def wait_until_done(
    expected: int, processes: list[subprocess.Popen[bytes]], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while Item.objects.filter(status__in=[Status.READY, Status.FAILED]).count() < expected:
        if time.monotonic() > deadline:
            raise TimeoutError(f"items not embedded within {timeout} s")
        if any(process.poll() is not None for process in processes):
            raise RuntimeError("a worker exited")
        time.sleep(0.25)  # polling more often would take CPU from the workers
    failed = Item.objects.filter(status=Status.FAILED).values_list("error_message", flat=True)
    if failed:
        raise RuntimeError(f"items failed: {list(failed)[:3]}")


def one_run(
    *, worker_count: int, files: int, seed: int, texts_only: bool = False
) -> dict[str, Any]:
    """Warm workers, then uploads as fast as one client sends them, until all are searchable."""
    with (
        tempfile.TemporaryDirectory() as data_dir,
        scratch_database(),
        app_processes(Path(data_dir)) as processes,
    ):
        _, url = processes.web()
        workers = start_workers(processes, worker_count)
        _, key = api_key_create(name="bench")
        started = time.perf_counter()
        with httpx.Client(base_url=url, timeout=60) as client:
            for index in range(files):
                upload(client, key, seed + index, texts_only=texts_only)
        uploaded = time.perf_counter() - started
        wait_until_done(files, workers, WORKER_READY_TIMEOUT_SEC)
        elapsed = time.perf_counter() - started
        first, last = Item.objects.aggregate(Min("embedded_at"), Max("embedded_at")).values()
    return {
        "workers": worker_count,
        "files": files,
        "files_per_sec": round(files / elapsed, 2),
        "upload_files_per_sec": round(files / uploaded, 2),
        # From the first item done to the last: the workers' own rate.
        "worker_files_per_sec": round((files - 1) / max((last - first).total_seconds(), 0.001), 2),
    }


def run(*, files: int) -> dict[str, Any]:
    """Files per second from upload to searchable, with one and two workers."""
    settings.EMBEDDINGS_MODEL = str(model_directory("tiny"))
    runs = [one_run(worker_count=count, files=files, seed=count * 100_000) for count in (1, 2)]
    return {
        "model": "the tests' tiny random model, so the figure is the pipeline's own cost",
        "mix": "a third each: 320x240 PNG, 3 s WAV, short text; uploaded through POST /api/items",
        "runs": runs,
        "two_over_one_worker": round(
            runs[1]["worker_files_per_sec"] / runs[0]["worker_files_per_sec"], 2
        ),
    }


def run_with_model(*, size: str, files: int, rounds: int) -> dict[str, Any]:
    """Text notes through one worker with a real-size model, against the engine's best batch."""
    settings.EMBEDDINGS_MODEL = str(model_directory(size))
    model = get_model()
    seed = 500_000
    # The very texts the pipeline gets: numbers and punctuation change their token counts.
    texts = [note(seed + index) for index in range(files)]
    engine = throughput(model.embed_texts, texts, (1, 4, 16, 32), rounds)
    pipeline = one_run(worker_count=1, files=files, seed=seed, texts_only=True)
    return {
        "model": f"{size}-size EmbeddingGemma 2 architecture",
        "weights": WEIGHTS_NOTE,
        "engine_text": engine,
        "pipeline": pipeline,
        "pipeline_over_engine_best_batch": round(
            pipeline["worker_files_per_sec"] / engine["best_items_per_sec"], 3
        ),
    }
