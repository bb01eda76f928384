"""A web server and a worker on one machine each run forward passes: both with every core's
threads, or the cores split between them, against one process alone. Images per second summed
over the processes, all layouts in one run."""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Any

from bench.media_factory import noise_image
from bench.models import model_directory
from embeddings.engine.device import choose_precision, choose_runtime, physical_cores
from embeddings.engine.registry import export_cache_dir
from embeddings.engine.sentence_transformer import SentenceTransformerModel

IMAGE_TOKENS = 140


def run(*, size: str, seconds: float) -> dict[str, Any]:
    source = str(model_directory(size))
    cores = physical_cores()
    # layout -> (threads of each process, OMP_WAIT_POLICY: whether idle threads spin)
    layouts = {
        "one process, all cores": ([cores], "ACTIVE"),
        "one process, all cores, idle threads sleep": ([cores], "PASSIVE"),
        "two processes, all cores each": ([cores, cores], "ACTIVE"),
        "two processes, all cores each, idle threads sleep": ([cores, cores], "PASSIVE"),
        "two processes, cores split": ([max(1, cores // 2)] * 2, "ACTIVE"),
    }
    report: dict[str, Any] = {
        "model": f"{size}-size EmbeddingGemma 2 architecture",
        "work": f"640x480 images at {IMAGE_TOKENS} tokens, back to back, for {seconds} s",
        "cores": cores,
    }
    for layout, (threads, wait_policy) in layouts.items():
        per_process = _images_per_second(source, threads, seconds, wait_policy=wait_policy)
        report[layout] = {
            "threads": threads,
            "omp_wait_policy": wait_policy,
            "images_per_sec": [round(rate, 3) for rate in per_process],
            "total_images_per_sec": round(sum(per_process), 3),
        }
    return report


def _images_per_second(
    source: str, threads: list[int], seconds: float, *, wait_policy: str
) -> list[float]:
    context = multiprocessing.get_context("spawn")
    start, rates = context.Barrier(len(threads)), context.Queue()
    processes = [
        context.Process(target=_embed_for, args=(source, count, seconds, start, rates, index))
        for index, count in enumerate(threads)
    ]
    with _environment(OMP_WAIT_POLICY=wait_policy):  # read by each new process's OpenMP
        for process in processes:
            process.start()
    by_process = dict(rates.get() for _ in processes)
    for process in processes:
        process.join()
    return [by_process[index] for index in range(len(processes))]


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
    source: str, threads: int, seconds: float, start: Barrier, rates: Queue, index: int
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
    rates.put((index, done / (time.perf_counter() - started)))
