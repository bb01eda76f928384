from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from django.conf import settings

from bench.media_factory import SENTENCE, noise, noise_image
from bench.models import model_directory
from bench.precision import MEASURED_IMAGE_TOKENS
from bench.processes import app_processes
from bench.scratch import scratch_database
from embeddings.conf import MODEL_NAME
from embeddings.engine.registry import get_model
from embeddings.keys import api_key_create

WEIGHTS_NOTE = (
    "Random weights of the real architecture (the real checkpoint cannot be downloaded here); "
    "the compute cost does not depend on the weights' values."
)


def items_per_second(run: Callable[[], object], batch: int, rounds: int) -> float:
    run()  # warm-up
    started = time.perf_counter()
    for _ in range(rounds):
        run()
    return round(batch * rounds / (time.perf_counter() - started), 3)


def throughput(
    embed: Callable[[Sequence[Any]], np.ndarray],
    inputs: Sequence[Any],
    batches: Sequence[int],
    rounds: int,
) -> dict[str, Any]:
    """Items per second at each batch size; a batch of n is the first n inputs, repeated as
    needed."""
    per_batch = {
        str(size): items_per_second(partial(_embed_repeated, embed, inputs, size), size, rounds)
        for size in batches
    }
    best = max(per_batch, key=per_batch.__getitem__)
    return {
        "items_per_sec_by_batch": per_batch,
        "batch_1_items_per_sec": per_batch["1"],
        "best_batch": int(best),
        "best_items_per_sec": per_batch[best],
    }


def _embed_repeated(
    embed: Callable[[Sequence[Any]], np.ndarray], inputs: Sequence[Any], size: int
) -> np.ndarray:
    return embed([inputs[i % len(inputs)] for i in range(size)])


def engine_throughput(*, size: str, rounds: int) -> dict[str, Any]:
    model = get_model(source=str(model_directory(size)))
    return {
        "model": f"{size}-size EmbeddingGemma 2 architecture, {model.dimension}-d",
        "weights": WEIGHTS_NOTE,
        "precision": str(getattr(model, "precision", "")),
        "threads": getattr(model, "threads", None),
        "text (10-15 words)": throughput(model.embed_texts, [SENTENCE], (1, 4, 16, 32), rounds),
        # sentence-transformers 6.2 takes a list of images as one sample: one image per pass.
        **{
            f"image (640x480) at {tokens} tokens": throughput(
                partial(model.embed_images, image_tokens=tokens),
                [noise_image(0, size=(640, 480))],
                (1,),
                rounds,
            )
            for tokens in MEASURED_IMAGE_TOKENS
        },
        # A composed query: the same image with the sentence's 15 words in one input.
        "image (640x480) with words": throughput(
            lambda images: np.stack([model.embed_image_with_text(i, SENTENCE) for i in images]),
            [noise_image(0, size=(640, 480))],
            (1,),
            rounds,
        ),
        "audio (10 s segment)": throughput(
            model.embed_audio, [noise(10.0, sampling_rate=model.sampling_rate)[0]], (1, 4), rounds
        ),
    }


def api_overhead(*, size: str, requests: int) -> dict[str, Any]:
    """POST /v1.3/embed to the app under gunicorn against a direct engine call, interleaved."""
    source = str(model_directory(size))
    settings.EMBEDDINGS_MODEL = source
    model = get_model(source=source)
    direct_seconds, api_seconds = [], []
    with (
        tempfile.TemporaryDirectory() as data_dir,
        scratch_database(),
        app_processes(Path(data_dir)) as processes,
    ):
        _, url = processes.web()
        with httpx.Client(base_url=url) as client:
            _, key = api_key_create(name="bench")
            form = {"model_name": MODEL_NAME.value(), "text": SENTENCE}
            headers = {"x-api-key": key}
            for round_ in range(requests + 1):
                started = time.perf_counter()
                model.embed_texts([SENTENCE])
                direct = time.perf_counter() - started
                started = time.perf_counter()
                response = client.post("/v1.3/embed", data=form, headers=headers, timeout=60)
                api = time.perf_counter() - started
                response.raise_for_status()
                if round_:  # the first round warms both paths up
                    direct_seconds.append(direct)
                    api_seconds.append(api)
    direct_ms = statistics.median(direct_seconds) * 1000
    api_ms = statistics.median(api_seconds) * 1000
    return {
        "model": f"{size}-size EmbeddingGemma 2 architecture",
        "requests": requests,
        "direct_engine_p50_ms": round(direct_ms, 3),
        "embed_api_p50_ms": round(api_ms, 3),
        "api_over_engine_p50": round(api_ms / direct_ms, 3),
        "note": "Interleaved: a direct engine call in this process, then a real HTTP request "
        "over loopback to the app served by gunicorn as `make run` serves it, with its own "
        "copy of the model (multipart form, key check, rate limit, JSON response).",
    }
