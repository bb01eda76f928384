from __future__ import annotations

import io
from functools import cache

import numpy as np
from hypothesis import strategies as st
from PIL import Image

from bench.media_factory import encode_audio, make_audio, make_image, sine

RATE = 16_000


@cache
def image_seeds() -> dict[str, bytes]:
    frames = [Image.new("RGB", (24, 16), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    seeds = {fmt: make_image(fmt, size=(40, 30)) for fmt in ("png", "jpeg", "webp", "bmp", "tiff")}
    seeds["gif"] = make_image("gif", size=(40, 30), mode="P")
    seeds["rgba-png"] = make_image("png", size=(40, 30), mode="RGBA")
    for fmt in ("GIF", "WEBP"):
        buffer = io.BytesIO()
        frames[0].save(buffer, fmt, save_all=True, append_images=frames[1:], duration=50)
        seeds[f"animated-{fmt.lower()}"] = buffer.getvalue()
    return seeds


@cache
def audio_seeds() -> dict[str, bytes]:
    seeds = {
        fmt: make_audio(fmt, seconds=0.5, sampling_rate=RATE, channels=1)
        for fmt in ("wav", "mp3", "flac", "ogg", "m4a", "webm")
    }
    seeds["float-wav"] = encode_audio(
        sine(0.5, sampling_rate=RATE), "wav", sampling_rate=RATE, codec="pcm_f32le"
    )
    return seeds


def float_wav(value: float, *, seconds: float = 0.5) -> bytes:
    signal = sine(seconds, sampling_rate=RATE)
    signal[0, len(signal[0]) // 2] = value
    return encode_audio(signal, "wav", sampling_rate=RATE, codec="pcm_f32le")


def silence(fmt: str, *, seconds: float) -> bytes:
    return encode_audio(np.zeros((1, int(seconds * RATE)), np.float32), fmt, sampling_rate=RATE)


@st.composite
def mutated(draw: st.DrawFn, seeds: dict[str, bytes]) -> bytes:
    """A seed file damaged the ways files get damaged: cut, overwritten, spliced, padded."""
    data = bytearray(seeds[draw(st.sampled_from(sorted(seeds)))])
    for _ in range(draw(st.integers(1, 4))):
        how = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "splice", "zero"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if how == "truncate":
            del data[at:]
        elif how == "flip":
            for offset in range(draw(st.integers(1, 8))):
                if at + offset < len(data):
                    data[at + offset] = draw(st.integers(0, 255))
        elif how == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif how == "delete":
            del data[at : at + draw(st.integers(1, 256))]
        elif how == "splice":
            other = seeds[draw(st.sampled_from(sorted(seeds)))]
            data[at:] = other[draw(st.integers(0, len(other) - 1)) :]
        else:
            length = draw(st.integers(1, 512))
            data[at : at + length] = bytes(length)
    return bytes(data)


def any_media() -> st.SearchStrategy[bytes]:
    seeds = {**image_seeds(), **audio_seeds()}
    return st.one_of(
        st.sampled_from(sorted(seeds.values())),
        mutated(seeds),
        st.binary(max_size=256),
    )
