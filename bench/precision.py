"""Each precision path side by side with float32, interleaved input by input: its speed, and
its fidelity (cosine of its vector to float32's for the same input, min and median over real
photos, sounds and texts). A path whose min stays below 0.99 is no default for that modality."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bench.models import model_directory
from bench.real_media import TEXTS, real_photos, real_sounds
from embeddings.engine.base import EmbeddingModel
from embeddings.engine.device import choose_precision, choose_runtime, physical_cores
from embeddings.engine.registry import export_cache_dir
from embeddings.engine.sentence_transformer import SentenceTransformerModel

REFERENCE = "float32"
# name -> (EMBEDDINGS_DTYPE, whether the vision and audio encoders run on OpenVINO; its audio
# encoder runs in float32 whatever the dtype)
PATHS = {
    REFERENCE: ("float32", False),
    "bfloat16-towers": ("bfloat16-towers", False),
    "bfloat16": ("bfloat16", False),
    "openvino, float32": ("float32", True),
    "openvino, bfloat16-towers": ("bfloat16-towers", True),
}
# The budgets measured (of the model's 70 to 1120, embeddings.conf.IMAGE_TOKEN_BUDGETS).
MEASURED_IMAGE_TOKENS = (70, 140, 280)
FAITHFUL = 0.99
TEXT_BATCH = 16

Embed = Callable[[EmbeddingModel, Any], np.ndarray]


def run(*, size: str, inputs: int, rounds: int) -> dict[str, Any]:
    source = str(model_directory(size))
    models = {
        path: _load(source, dtype, openvino=openvino) for path, (dtype, openvino) in PATHS.items()
    }
    photos = real_photos(inputs)
    sounds = real_sounds(inputs, sampling_rate=models[REFERENCE].sampling_rate)
    cases: dict[str, tuple[Embed, Sequence[Any]]] = {
        f"image at {tokens} tokens": (_image_embedder(tokens), photos)
        for tokens in MEASURED_IMAGE_TOKENS
    }
    cases["audio (a sound's first segment, up to 10 s)"] = (
        lambda model, sound: model.embed_audio([sound])[0],
        sounds,
    )
    cases["one text (a search query)"] = (
        lambda model, text: model.embed_texts([text])[0],
        TEXTS[:inputs],
    )
    report: dict[str, Any] = {
        "model": source,
        "threads": physical_cores(),
        "auto_on_this_machine": {
            "precision": str(choose_precision("auto", device="cpu")),
            "vision_encoder": choose_runtime("auto", encoder="vision", device="cpu"),
            "audio_encoder": choose_runtime("auto", encoder="audio", device="cpu"),
        },
        "inputs": {"photos": len(photos), "sounds": len(sounds), "texts": min(inputs, len(TEXTS))},
        "note": "Speed: median seconds per input, interleaved across paths. Fidelity: cosine "
        "to float32 for the same input and settings. With random weights the text network "
        "is chaotic (rounding its weights to bfloat16 alone moves a vector to cosine ~0.85), "
        "so text fidelity here says nothing about the real checkpoint.",
    }
    vectors_at: dict[int, list[np.ndarray]] = {}
    for case, (embed, items) in cases.items():
        report[case], vectors = _compare(models, embed, items)
        if case.startswith("image at "):
            vectors_at[int(case.split()[2])] = vectors
    report[f"texts in batches of {TEXT_BATCH}"] = _text_batches(models, rounds=rounds)
    report["image budget vs 280 tokens (float32 vectors of the same photo)"] = {
        f"{tokens} tokens": _cosines(vectors_at[tokens], vectors_at[280])
        for tokens in MEASURED_IMAGE_TOKENS
        if tokens != 280
    }
    return report


def _load(source: str, dtype: str, *, openvino: bool) -> EmbeddingModel:
    exports = export_cache_dir(source) if openvino else None
    return SentenceTransformerModel(
        source=source,
        device="cpu",
        precision=choose_precision(dtype, device="cpu"),
        batch_size=TEXT_BATCH,
        threads=physical_cores(),
        openvino_vision_cache=exports,
        openvino_audio_cache=exports,
    )


def _image_embedder(tokens: int) -> Embed:
    return lambda model, photo: model.embed_images([photo], image_tokens=tokens)[0]


def _compare(
    models: dict[str, EmbeddingModel], embed: Embed, items: Sequence[Any]
) -> tuple[dict[str, Any], list[np.ndarray]]:
    for model in models.values():
        embed(model, items[0])  # warm-up
    seconds: dict[str, list[float]] = {path: [] for path in models}
    vectors: dict[str, list[np.ndarray]] = {path: [] for path in models}
    for item in items:
        for path, model in models.items():
            started = time.perf_counter()
            vectors[path].append(embed(model, item))
            seconds[path].append(time.perf_counter() - started)
    reference_sec = statistics.median(seconds[REFERENCE])
    report = {}
    for path in models:
        median_sec = statistics.median(seconds[path])
        fidelity = _cosines(vectors[path], vectors[REFERENCE])
        report[path] = {
            "median_sec": round(median_sec, 4),
            "per_sec": round(1 / median_sec, 2),
            "time_vs_float32": round(median_sec / reference_sec, 3),
            "cosine_to_float32": fidelity,
            "faithful": fidelity["min"] >= FAITHFUL,
        }
    return report, vectors[REFERENCE]


def _text_batches(models: dict[str, EmbeddingModel], *, rounds: int) -> dict[str, Any]:
    batch = [TEXTS[i % len(TEXTS)] for i in range(TEXT_BATCH)]
    seconds: dict[str, list[float]] = {path: [] for path in models}
    for round_ in range(rounds + 1):
        for path, model in models.items():
            started = time.perf_counter()
            model.embed_texts(batch)
            if round_:  # the first round warms up
                seconds[path].append(time.perf_counter() - started)
    return {
        path: {"texts_per_sec": round(TEXT_BATCH / statistics.median(times), 1)}
        for path, times in seconds.items()
    }


def _cosines(vectors: list[np.ndarray], references: list[np.ndarray]) -> dict[str, float]:
    cosines = [float(v @ r) for v, r in zip(vectors, references, strict=True)]
    return {"min": round(min(cosines), 4), "median": round(statistics.median(cosines), 4)}
