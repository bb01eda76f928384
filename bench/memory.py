"""Peak memory of embedding one large input, and of a server process by what it embeds; each
case in its own process.

`python -m bench.memory <case> <path>` prints that case's JSON; `run()` and `servers()` drive
them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


@contextmanager
def rss_peak() -> Iterator[list[float]]:
    """Samples this process's RSS every 5 ms; the list holds the highest seen."""
    peak = [rss_mb()]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()


def make_input(case: str, size: float) -> bytes:
    from bench.media_factory import make_audio, make_image

    if case == "audio":
        return make_audio("flac", seconds=size, sampling_rate=16000, channels=1)
    side = int((size * 1_000_000) ** 0.5)
    return make_image(case, size=(side * 3 // 2, side * 2 // 3), quality=90)


def probe(case: str, path: Path) -> dict[str, Any]:
    """Runs in its own process; the parent made the input, so making it costs nothing here."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "searchapp.settings")
    django.setup()
    from django.conf import settings

    from bench.models import model_directory
    from embeddings.services import embed_audio, embed_image, embed_text

    settings.EMBEDDINGS_MODEL = str(model_directory("tiny"))
    embed_text("warm-up")
    data = path.read_bytes()
    before = rss_mb()
    with rss_peak() as peak:
        vectors = embed_audio(data) if case == "audio" else [embed_image(data)]
    return {
        "file_mb": round(len(data) / 2**20, 1),
        "vectors": len(vectors),
        "rss_before_mb": round(before, 1),
        "rss_peak_growth_mb": round(peak[0] - before, 1),
    }


def run(*, audio_seconds: float, image_megapixels: float) -> dict[str, Any]:
    # A file a sixth as long still fills whole batches, so the two audio cases differ only in
    # how much audio there is to decode: with streaming, their growth is the same.
    cases = [
        ("audio", audio_seconds / 6),
        ("audio", audio_seconds),
        ("jpeg", image_megapixels),
        ("png", image_megapixels),
    ]
    results = []
    for case, size in cases:
        with tempfile.NamedTemporaryFile() as file:
            file.write(make_input(case, size))
            file.flush()
            output = _run_in_own_process(case, file.name)
        described = f"{size:g} s FLAC" if case == "audio" else f"{size:g} MP {case.upper()}"
        results.append({"input": described, **json.loads(output.splitlines()[-1])})
    return {
        "model": "the tests' tiny random model, so the growth is the media pipeline's own",
        "measure": "highest RSS while embedding the one input (sampled every 5 ms) minus RSS "
        "before, with the input already in memory as an upload is",
        "cases": results,
    }


# EMBEDDINGS_MODALITIES of each kind of server measured, from an any-to-any server down to a
# node that only embeds search texts.
SERVER_KINDS = ("text,image,audio", "text,image", "text")


def server_probe(modalities: str, model_dir: Path) -> dict[str, Any]:
    """A server's model after start-up: loaded and warmed up, one input of each modality."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "searchapp.settings")
    django.setup()
    from django.conf import settings

    from embeddings.engine.registry import get_model, warm_up

    settings.EMBEDDINGS_MODEL = str(model_dir)
    settings.EMBEDDINGS_MODALITIES = modalities.split(",")
    before = rss_mb()
    with rss_peak() as peak:
        warm_up()
    after = rss_mb()
    network = get_model()._model[0].model  # type: ignore[attr-defined]
    return {
        "modalities": modalities,
        "torch_parameters": sum(p.numel() for p in network.parameters()),
        "rss_after_warm_up_mb": round(after, 1),
        "rss_peak_mb": round(max(peak[0], after), 1),
        "rss_before_loading_mb": round(before, 1),
    }


def servers(*, size: str) -> dict[str, Any]:
    from bench.models import model_directory

    model_dir = model_directory(size)
    kinds = [
        json.loads(_run_in_own_process("server", kinds, model_dir).splitlines()[-1])
        for kinds in SERVER_KINDS
    ]
    return {
        "model": f"{size}-size EmbeddingGemma 2 architecture, random weights",
        "measure": "RSS of a new process after the model's start-up warm-up (one input of each "
        "modality it embeds), and the highest RSS on the way (sampled every 5 ms), by "
        "EMBEDDINGS_MODALITIES; the rest of the settings are the defaults. torch_parameters "
        "leaves out an encoder that runs on OpenVINO",
        "servers": kinds,
    }


def _run_in_own_process(*arguments: object) -> str:
    return subprocess.run(
        [sys.executable, "-m", "bench.memory", *map(str, arguments)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


if __name__ == "__main__":
    if sys.argv[1] == "server":
        print(json.dumps(server_probe(sys.argv[2], Path(sys.argv[3]))))
    else:
        print(json.dumps(probe(sys.argv[1], Path(sys.argv[2]))))
