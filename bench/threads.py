"""A web server and a worker on one machine each run forward passes: both with every core's
threads, or the cores split between them, against one process alone, with idle OpenMP threads
spinning, sleeping, or spinning briefly before they sleep. Images per second summed over the
processes, and for one process the time of a text query, all layouts in one run."""

from __future__ import annotations

import multiprocessing
import os
import queue
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier, Event
from typing import Any

from bench.media_factory import SENTENCE, noise_image
from bench.models import model_directory
from embeddings.engine.device import choose_precision, choose_runtime, physical_cores
from embeddings.engine.registry import export_cache_dir
from embeddings.engine.sentence_transformer import SentenceTransformerModel

IMAGE_TOKENS = 140
TEXT_QUERIES = 15

# What idle OpenMP threads do, as each new process's OpenMP (torch's libgomp) reads it: spin
# until there is work, sleep at once (the engine's default, embeddings/__init__.py), or spin
# about 3 ms and then sleep, libgomp's own behaviour when no policy is set (GOMP_SPINCOUNT
# overrides the policy's spin count).
IDLE_THREADS = {
    "spin": {"OMP_WAIT_POLICY": "ACTIVE"},
    "sleep": {"OMP_WAIT_POLICY": "PASSIVE"},
    "spin briefly": {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "300000"},
}


@dataclass(frozen=True)
class Layout:
    threads: list[int]  # of each embedding process
    idle_threads: str
    # Whether a CPU-bound process (one core's worth, as a database or another service would
    # be) runs beside them.
    beside_busy_process: bool = False


def run(*, size: str, seconds: float) -> dict[str, Any]:
    source = str(model_directory(size))
    cores = physical_cores()
    layouts = {
        "one process, all cores": Layout([cores], "spin"),
        "one process, all cores, idle threads sleep": Layout([cores], "sleep"),
        "one process, all cores, idle threads spin briefly": Layout([cores], "spin briefly"),
        "one process beside a busy one, idle threads sleep": Layout([cores], "sleep", True),
        "one process beside a busy one, idle threads spin briefly": Layout(
            [cores], "spin briefly", True
        ),
        "two processes, all cores each": Layout([cores, cores], "spin"),
        "two processes, all cores each, idle threads sleep": Layout([cores, cores], "sleep"),
        "two processes, all cores each, idle threads spin briefly": Layout(
            [cores, cores], "spin briefly"
        ),
        "two processes, cores split": Layout([max(1, cores // 2)] * 2, "spin"),
    }
    report: dict[str, Any] = {
        "model": f"{size}-size EmbeddingGemma 2 architecture",
        "work": f"640x480 images at {IMAGE_TOKENS} tokens, back to back, for {seconds} s; then, "
        f"for one process, {TEXT_QUERIES} text queries one after another",
        "cores": cores,
    }
    for name, layout in layouts.items():
        per_process = _measure(source, layout, seconds)
        report[name] = {
            "threads": layout.threads,
            "idle_threads": layout.idle_threads,
            "environment": IDLE_THREADS[layout.idle_threads],
            "beside_busy_process": layout.beside_busy_process,
            "images_per_sec": [round(images, 3) for images, _ in per_process],
            "total_images_per_sec": round(sum(images for images, _ in per_process), 3),
        }
        if len(per_process) == 1:
            report[name]["text_query_p50_ms"] = round(per_process[0][1], 1)
    return report


def _measure(source: str, layout: Layout, seconds: float) -> list[tuple[float, float]]:
    """(images per second, text query p50 in ms) of each embedding process."""
    context = multiprocessing.get_context("spawn")
    start, rates = context.Barrier(len(layout.threads)), context.Queue()
    processes = [
        context.Process(
            target=_embed_for,
            args=(source, count, seconds, start, rates, index, len(layout.threads) == 1),
        )
        for index, count in enumerate(layout.threads)
    ]
    stop_busy = context.Event()
    busy = context.Process(target=_keep_a_core_busy, args=(stop_busy,))
    if layout.beside_busy_process:
        busy.start()
    with _environment(**IDLE_THREADS[layout.idle_threads]):
        for process in processes:
            process.start()
    by_process: dict[int, tuple[float, float]] = {}
    try:
        while len(by_process) < len(processes):
            try:
                index, measured = rates.get(timeout=1)
            except queue.Empty:
                if any(process.exitcode for process in processes):  # died before reporting
                    raise RuntimeError("a measuring process failed; see its traceback") from None
                continue
            by_process[index] = measured
    finally:
        stop_busy.set()
    for process in processes:
        process.join()
    if layout.beside_busy_process:
        busy.join()
    return [by_process[index] for index in range(len(processes))]


def _keep_a_core_busy(stop: Event) -> None:
    while not stop.is_set():
        sum(range(10_000))


@contextmanager
def _environment(**variables: str) -> Iterator[None]:
    previous = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name)
            else:
                os.environ[name] = value


def _embed_for(
    source: str,
    threads: int,
    seconds: float,
    start: Barrier,
    rates: Queue[tuple[int, tuple[float, float]]],
    index: int,
    time_text_queries: bool,
) -> None:
    openvino = choose_runtime("auto", encoder="vision", device="cpu") == "openvino"
    model = SentenceTransformerModel(
        source=source,
        device="cpu",
        precision=choose_precision("auto", device="cpu", image_tokens=IMAGE_TOKENS),
        batch_size=1,
        threads=threads,
        openvino_vision_cache=export_cache_dir(source) if openvino else None,
    )
    image = noise_image(0, size=(640, 480))
    model.embed_images([image], image_tokens=IMAGE_TOKENS)  # warm-up
    start.wait()
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        model.embed_images([image], image_tokens=IMAGE_TOKENS)
        done += 1
    images_per_second = done / (time.perf_counter() - started)
    text_query_ms = 0.0
    if time_text_queries:
        model.embed_texts([SENTENCE])  # warm-up
        text_query_ms = 1000 * statistics.median(
            _seconds(lambda: model.embed_texts([SENTENCE])) for _ in range(TEXT_QUERIES)
        )
    rates.put((index, (images_per_second, text_query_ms)))


def _seconds(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started
