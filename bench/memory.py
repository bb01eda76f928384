"""Peak memory of embedding one large input, each case in its own process.

`python -m bench.memory <case> <size>` prints that case's JSON; `run()` drives them.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def probe(case: str, size: float) -> dict[str, Any]:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "searchapp.settings")
    django.setup()
    from django.conf import settings

    from bench.media_factory import make_audio, make_image
    from bench.models import model_directory
    from embeddings.services import embed_audio, embed_image, embed_text

    settings.EMBEDDINGS_MODEL = str(model_directory("tiny"))
    if case == "audio":
        data = make_audio("flac", seconds=size, sampling_rate=16000, channels=1)
    else:
        side = int((size * 1_000_000) ** 0.5)
        data = make_image(case, size=(side * 3 // 2, side * 2 // 3), quality=90)
    embed_text("warm-up")
    before = peak_rss_mb()
    vectors = embed_audio(data) if case == "audio" else [embed_image(data)]
    return {
        "input": f"{size:g} s FLAC" if case == "audio" else f"{size:g} MP {case.upper()}",
        "file_mb": round(len(data) / 2**20, 1),
        "vectors": len(vectors),
        "peak_rss_before_mb": round(before, 1),
        "peak_rss_growth_mb": round(peak_rss_mb() - before, 1),
    }


def run(*, audio_seconds: float, image_megapixels: float) -> dict[str, Any]:
    cases = [("audio", audio_seconds), ("jpeg", image_megapixels), ("png", image_megapixels)]
    results = []
    for case, size in cases:
        completed = subprocess.run(
            [sys.executable, "-m", "bench.memory", case, str(size)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        results.append(json.loads(completed.stdout.strip().splitlines()[-1]))
    return {
        "model": "the tests' tiny random model, so the growth is the media pipeline's own",
        "measure": "growth of the process's peak RSS while embedding the one input",
        "cases": results,
    }


if __name__ == "__main__":
    print(json.dumps(probe(sys.argv[1], float(sys.argv[2]))))
