from __future__ import annotations

import io
import struct
import zlib
from fractions import Fraction
from typing import Any

import av
import numpy as np
from PIL import Image

# name: (container format, codec)
# The text of the text benchmarks: 13 words, as a search query or a short note.
SENTENCE = "a photo of a red car parked in front of an old house at night"

AUDIO_FORMATS = {
    "wav": ("wav", "pcm_s16le"),
    "mp3": ("mp3", "libmp3lame"),
    "m4a": ("ipod", "aac"),
    "aac": ("adts", "aac"),
    "ogg": ("ogg", "libvorbis"),
    "opus": ("ogg", "libopus"),
    "flac": ("flac", "flac"),
    "webm": ("webm", "libopus"),
}
LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1"}
SAMPLE_TYPES: dict[str, type[np.number[Any]]] = {
    "s16": np.int16,
    "s32": np.int32,
    "flt": np.float32,
}


def make_image(
    fmt: str, *, size: tuple[int, int] = (96, 64), mode: str = "RGB", **save_options: Any
) -> bytes:
    width, height = size
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    pixels[..., 1] = np.linspace(255, 0, height, dtype=np.uint8)[:, None]
    pixels[: height // 2, : width // 2, 2] = 200
    return encode_image(Image.fromarray(pixels).convert(mode), fmt, **save_options)


def encode_image(image: Image.Image, fmt: str, **save_options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format={"jpg": "jpeg", "tif": "tiff"}.get(fmt, fmt).upper(), **save_options)
    return buffer.getvalue()


def noise_image(seed: int, *, size: tuple[int, int]) -> Image.Image:
    """Random pixels: a different image for every seed, so uploads never deduplicate."""
    width, height = size
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def png_declaring(width: int, height: int) -> bytes:
    # A few hundred bytes that claim width x height pixels; decoding them would fail.
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
        + _png_chunk(b"IEND", b"")
    )


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))


def sine(
    seconds: float, *, sampling_rate: int, frequency: float = 440.0, channels: int = 1
) -> np.ndarray:
    t = np.arange(int(seconds * sampling_rate)) / sampling_rate
    wave = 0.4 * np.sin(2 * np.pi * frequency * t).astype(np.float32)
    return np.repeat(wave[None, :], channels, axis=0)


def noise(seconds: float, *, sampling_rate: int, seed: int = 0) -> np.ndarray:
    """Mono random noise (standard deviation 0.1), shaped like `sine`'s output."""
    samples = np.random.default_rng(seed).standard_normal(int(seconds * sampling_rate))
    return (0.1 * samples).astype(np.float32)[None, :]


def make_audio(
    fmt: str,
    *,
    seconds: float,
    sampling_rate: int = 44100,
    channels: int = 2,
    frequency: float = 440.0,
    codec: str | None = None,
) -> bytes:
    codec = codec or AUDIO_FORMATS[fmt][1]
    rates = av.codec.Codec(codec, "w").audio_rates
    if rates and sampling_rate not in rates:
        sampling_rate = max(rates)
    signal = sine(seconds, sampling_rate=sampling_rate, frequency=frequency, channels=channels)
    return encode_audio(signal, fmt, sampling_rate=sampling_rate, codec=codec)


# signal: float samples in -1..1 shaped (channels, samples); codec overrides fmt's default.
def encode_audio(
    signal: np.ndarray, fmt: str, *, sampling_rate: int, codec: str | None = None
) -> bytes:
    container_format, default_codec = AUDIO_FORMATS[fmt]
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_format) as container:
        stream = container.add_stream(codec or default_codec, rate=sampling_rate)
        assert isinstance(stream, av.AudioStream)
        stream.layout = LAYOUTS[len(signal)]
        stream.time_base = Fraction(1, sampling_rate)
        formats = stream.codec_context.codec.audio_formats
        assert formats
        sample_format = formats[0]
        frame_size = 1024
        for start in range(0, signal.shape[1], frame_size):
            frame = _frame(signal[:, start : start + frame_size], sample_format=sample_format)
            frame.sample_rate = sampling_rate
            frame.pts = start
            frame.time_base = Fraction(1, sampling_rate)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def _frame(chunk: np.ndarray, *, sample_format: av.AudioFormat) -> av.AudioFrame:
    dtype = SAMPLE_TYPES[sample_format.packed.name]
    scale = np.iinfo(dtype).max if issubclass(dtype, np.integer) else 1.0
    values = (chunk.astype(np.float64) * scale).astype(dtype)
    if not sample_format.is_planar:
        values = values.T.reshape(1, -1)
    return av.AudioFrame.from_ndarray(
        np.ascontiguousarray(values), format=sample_format.name, layout=LAYOUTS[len(chunk)]
    )


def wav_declaring(
    *, sample_rate: int, channels: int, frames: int = 1000, data_size: int | None = None
) -> bytes:
    """Silent 16-bit PCM WAV whose header claims `sample_rate`, `channels` and a data chunk of
    `data_size` bytes (by default the real size), whatever they are."""
    data = bytes(frames * channels * 2)
    fmt = struct.pack(
        "<HHIIHH",
        1,
        channels,
        sample_rate,
        (sample_rate * channels * 2) % 2**32,
        (channels * 2) % 2**16,
        16,
    )
    size = len(data) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data"
    body += struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", len(body) % 2**32) + body


def matroska_pcm(
    signal: np.ndarray,
    *,
    sampling_rate: int,
    declared_rate: float | None = None,
    declared_channels: int | None = None,
) -> bytes:
    """16-bit PCM in Matroska with all of `signal` (channels, samples) in one block, which
    decodes as one frame; the header may claim another sample rate (any float) or channel
    count (up to 255)."""
    channels = len(signal)
    buffer = io.BytesIO()
    # Without CRC-32 elements the header can be edited in place.
    with av.open(buffer, mode="w", format="matroska", options={"write_crc32": "0"}) as container:
        stream = container.add_stream("pcm_s16le", rate=sampling_rate)
        stream.layout = LAYOUTS[channels]
        frame = _frame(signal, sample_format=av.AudioFormat("s16"))
        frame.sample_rate, frame.pts = sampling_rate, 0
        frame.time_base = Fraction(1, sampling_rate)
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    data = buffer.getvalue()
    if declared_rate is not None:
        data = data.replace(
            b"\xb5\x88" + struct.pack(">d", sampling_rate),
            b"\xb5\x88" + struct.pack(">d", declared_rate),
            1,
        )
    if declared_channels is not None:
        data = data.replace(
            bytes([0x9F, 0x81, channels]), bytes([0x9F, 0x81, declared_channels]), 1
        )
    return data


def flac_declaring(data: bytes, *, sample_rate: int, channels: int, total_samples: int) -> bytes:
    """`data` (a FLAC file) with its STREAMINFO claiming another sample rate (20 bits),
    channel count (1 to 8) and length (36 bits); FLAC's metadata has no checksum."""
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0, "STREAMINFO comes first"
    packed = int.from_bytes(data[18:26], "big")
    bits_per_sample = (packed >> 36) & 0x1F
    packed = (sample_rate << 44) | ((channels - 1) << 41) | (bits_per_sample << 36) | total_samples
    return data[:18] + packed.to_bytes(8, "big") + data[26:]


def jpeg_repeating_its_last_scan(data: bytes, *, times: int) -> bytes:
    """A progressive JPEG with its last scan `times` more times: still a valid picture, and
    each repeat one more decoding pass over all of it."""
    # A scan runs from its marker to the next; inside a scan every 0xFF byte is escaped.
    start, end = data.rindex(b"\xff\xda"), data.rindex(b"\xff\xd9")
    return data[:end] + data[start:end] * times + data[end:]
