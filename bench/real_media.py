"""Real photos and sounds for fidelity measurements: random weights make any input look alike
to the model's cost, but not to its precision, so fidelity is measured on real media.

Photos come with scikit-image (a dev dependency), sounds from Debian's sound-theme-freedesktop
and alsa-utils (`make system-packages`).
"""

from __future__ import annotations

from contextlib import closing
from importlib.resources import files
from pathlib import Path

import numpy as np
from PIL import Image

from bench.random_model import CORPUS
from embeddings.conf import embeddings_settings
from embeddings.errors import InputError
from embeddings.media.audio import check_audio, split_clip

SOUND_FOLDERS = (Path("/usr/share/sounds/freedesktop/stereo"), Path("/usr/share/sounds/alsa"))
MIN_SIDE = 64  # TwelveLabs' smallest image

TEXTS = [
    *CORPUS,
    "sunset over the harbour",
    "a crowded train station at rush hour",
    "children playing football in the park",
    "an old man reading a newspaper",
    "a steaming bowl of ramen",
    "a thunderstorm at night",
    "a violin solo",
    "fireworks over the river",
    "a cup of coffee on a wooden table",
    "waves crashing on the rocks",
    "a black and white portrait of a woman",
    "traffic noise in the city",
]


def real_photos(limit: int) -> list[Image.Image]:
    """Up to `limit` of scikit-image's sample photos (astronaut, coffee, cat, rocket, ...), RGB."""
    folder = files("skimage") / "data"
    photos = []
    for entry in sorted(folder.iterdir(), key=lambda entry: entry.name):
        if entry.name.endswith((".png", ".jpg")):
            with Image.open(entry.open("rb")) as image:
                if min(image.size) >= MIN_SIDE:
                    photos.append(image.convert("RGB"))
    return photos[:limit]


def real_sounds(limit: int, *, sampling_rate: int) -> list[np.ndarray]:
    """Up to `limit` desktop sounds and spoken channel names, each decoded as the engine decodes
    audio: mono at `sampling_rate`, its first segment."""
    paths = sorted(
        path
        for folder in SOUND_FOLDERS
        for path in folder.glob("*")
        if path.suffix in (".oga", ".wav")
    )
    if not paths:
        raise RuntimeError(
            "No sounds in /usr/share/sounds: install Debian's sound-theme-freedesktop and "
            "alsa-utils (make system-packages)."
        )
    sounds: list[np.ndarray] = []
    config = embeddings_settings()
    for path in paths:
        try:
            clip = check_audio(
                path.read_bytes(), sampling_rate=sampling_rate, limits=config.audio_limits
            )
        except InputError:  # a click shorter than the engine accepts
            continue
        with closing(split_clip(clip, target_sec=config.audio_segment_sec)) as segments:
            sounds.append(next(segments).samples)
        if len(sounds) == limit:
            break
    return sounds
