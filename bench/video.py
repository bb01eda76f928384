"""Video: seconds of video embedded per second of wall time, by embedding option, at the
default clip length, frame rate and frame tokens; and the peak memory of embedding a long
video, in its own process.

`python -m bench.video <path>` prints the memory case's JSON; `run()` drives both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, TypedDict

from bench.memory import ROOT, rss_mb, rss_peak
from bench.video_factory import make_video


class Footage(TypedDict, total=False):
    """How make_video draws a file."""

    fps: float
    size: tuple[int, int]
    grain: int
    colour_sec: float


# The throughput case: 640x360 at 30 frames a second, with grain, so decoding costs about what
# camera footage costs.
THROUGHPUT_VIDEO: Footage = {"fps": 30, "size": (640, 360), "grain": 8, "colour_sec": 2.0}
# The memory case: a small frame at 2 frames a second keeps making an hour of video quick; the
# clips the model sees are the same whatever the native rate.
MEMORY_VIDEO: Footage = {"fps": 2, "size": (320, 180), "colour_sec": 5.0}


def throughput(*, size: str, seconds: float) -> dict[str, Any]:
    from django.conf import settings

    from bench.models import model_directory
    from embeddings.conf import embeddings_settings
    from embeddings.engine.registry import get_model
    from embeddings.media.video import split_video
    from embeddings.services import VIDEO_OPTIONS, VideoOption, embed_video_file, prepare_video
    from embeddings.spaces import configured_space

    settings.EMBEDDINGS_MODEL = str(model_directory(size))
    model, config, space = get_model(), embeddings_settings(), configured_space()
    data = make_video("mp4", seconds=seconds, **THROUGHPUT_VIDEO)
    video = prepare_video(data, model=model, config=config)

    def embed(option: VideoOption, part: Any = video) -> None:
        embed_video_file(part, options=(option,), model=model, config=config, space=space)

    started = time.perf_counter()
    clips = split_video(
        video,
        clip_sec=config.video_clip_sec,
        fps=space.video_fps,
        sampling_rate=model.sampling_rate,
    )
    for _ in clips:
        pass
    decoding = time.perf_counter() - started
    rates = {}
    for option in VIDEO_OPTIONS:
        embed(option, replace(video, end_sec=config.video_clip_sec))  # warm-up
        started = time.perf_counter()
        embed(option)
        rates[option] = round(seconds / (time.perf_counter() - started), 3)
    return {
        "model": f"{size}-size EmbeddingGemma 2 architecture, {model.dimension}-d",
        "video": f"{seconds:g} s of H.264 in MP4, 640x360 at 30 frames a second, AAC audio",
        "clip_sec": config.video_clip_sec,
        "frames_per_sec_sampled": space.video_fps,
        "frame_tokens": space.video_frame_tokens,
        "decoding_only_video_sec_per_sec": round(seconds / decoding, 3),
        "video_sec_per_sec_by_option": rates,
    }


def probe(path: Path) -> dict[str, Any]:
    """Runs in its own process: the tiny model embeds the whole file, every option, both
    scopes."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "searchapp.settings")
    django.setup()
    from django.conf import settings

    from bench.models import model_directory
    from embeddings.services import VIDEO_OPTIONS, embed_text, embed_video

    settings.EMBEDDINGS_MODEL = str(model_directory("tiny"))
    embed_text("warm-up")
    embed_video(make_video("mp4", seconds=2.0), options=VIDEO_OPTIONS)
    before = rss_mb()
    started = time.perf_counter()
    with rss_peak() as peak:
        embeddings = embed_video(path, options=VIDEO_OPTIONS, scopes=("clip", "asset"))
    return {
        "file_mb": round(path.stat().st_size / 2**20, 1),
        "embeddings": len(embeddings),
        "seconds": round(time.perf_counter() - started, 1),
        "rss_before_mb": round(before, 1),
        "rss_peak_growth_mb": round(peak[0] - before, 1),
    }


def memory(*, seconds: float) -> dict[str, Any]:
    results = []
    # A tenth as long: with streaming, the growth does not depend on the length.
    for length in (seconds / 10, seconds):
        with tempfile.NamedTemporaryFile(suffix=".mp4") as file:
            make_video("mp4", seconds=length, path=Path(file.name), **MEMORY_VIDEO)
            output = subprocess.run(
                [sys.executable, "-m", "bench.video", file.name],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        results.append({"video_sec": length, **json.loads(output.splitlines()[-1])})
    return {
        "model": "the tests' tiny random model, so the growth is the video pipeline's own "
        "(the full-size model's activations come on top, as for any clip)",
        "video": "H.264 in MP4, 320x180 at 2 frames a second, AAC audio; every option "
        "(visual, audio, fused), clip and asset scopes, from a file on disk",
        "measure": "highest RSS while embedding the file (sampled every 5 ms) minus RSS before",
        "cases": results,
    }


def run(*, size: str, throughput_seconds: float, memory_seconds: float) -> dict[str, Any]:
    return {
        "throughput": throughput(size=size, seconds=throughput_seconds),
        "memory": memory(seconds=memory_seconds),
    }


if __name__ == "__main__":
    print(json.dumps(probe(Path(sys.argv[1]))))
