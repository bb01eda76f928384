from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np
from PIL import Image

AUDIO_FORMATS = {
    # name: (container format, codec, sample format)
    "wav": ("wav", "pcm_s16le", "s16"),
    "mp3": ("mp3", "libmp3lame", "s16p"),
    "m4a": ("ipod", "aac", "fltp"),
    "ogg": ("ogg", "libvorbis", "fltp"),
    "opus": ("ogg", "libopus", "s16"),
    "flac": ("flac", "flac", "s16"),
    "webm": ("webm", "libopus", "s16"),
}
OPUS_RATE = 48000


def make_image(fmt: str, *, size: tuple[int, int] = (96, 64), mode: str = "RGB") -> bytes:
    image = Image.new(mode, size)
    width, height = size
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    pixels[..., 1] = np.linspace(255, 0, height, dtype=np.uint8)[:, None]
    pixels[: height // 2, : width // 2, 2] = 200
    image = Image.fromarray(pixels).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format={"jpg": "jpeg"}.get(fmt, fmt).upper())
    return buffer.getvalue()


def sine(
    seconds: float, *, sampling_rate: int, frequency: float = 440.0, channels: int = 1
) -> np.ndarray:
    t = np.arange(int(seconds * sampling_rate)) / sampling_rate
    wave = 0.4 * np.sin(2 * np.pi * frequency * t).astype(np.float32)
    return np.repeat(wave[None, :], channels, axis=0)


def make_audio(
    fmt: str,
    *,
    seconds: float,
    sampling_rate: int = 44100,
    channels: int = 2,
    frequency: float = 440.0,
) -> bytes:
    container_format, codec, sample_format = AUDIO_FORMATS[fmt]
    if codec == "libopus":
        sampling_rate = OPUS_RATE
    signal = sine(seconds, sampling_rate=sampling_rate, frequency=frequency, channels=channels)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=sampling_rate)
        stream.layout = "stereo" if channels == 2 else "mono"
        stream.time_base = Fraction(1, sampling_rate)
        frame_size = 1024
        for start in range(0, signal.shape[1], frame_size):
            chunk = signal[:, start : start + frame_size]
            frame = _frame(chunk, sample_format=sample_format, channels=channels)
            frame.sample_rate = sampling_rate
            frame.pts = start
            frame.time_base = Fraction(1, sampling_rate)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def _frame(chunk: np.ndarray, *, sample_format: str, channels: int) -> av.AudioFrame:
    layout = "stereo" if channels == 2 else "mono"
    if sample_format == "fltp":
        return av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout=layout)
    pcm = (chunk * 32767).astype(np.int16)
    if sample_format == "s16p":
        return av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm), format="s16p", layout=layout)
    interleaved = pcm.T.reshape(1, -1)
    return av.AudioFrame.from_ndarray(
        np.ascontiguousarray(interleaved), format="s16", layout=layout
    )
