"""Video files whose content is known: solid colours that change every `colour_sec` seconds
and a tone whose pitch changes with them, in every container and codec the service takes."""

from __future__ import annotations

import io
import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# name: (container format, video codec, audio codec)
VIDEO_FORMATS = {
    "mp4": ("mp4", "libx264", "aac"),
    "mov": ("mov", "libx264", "aac"),
    "mkv": ("matroska", "libx264", "libvorbis"),
    "webm-vp8": ("webm", "libvpx", "libopus"),
    "webm-vp9": ("webm", "libvpx-vp9", "libopus"),
    "mp4-av1": ("mp4", "libaom-av1", "aac"),
}


def encodable(fmt: str) -> bool:
    """Whether this FFmpeg build has the format's encoders (AV1's is optional)."""
    _, video_codec, audio_codec = VIDEO_FORMATS[fmt]
    return {video_codec, audio_codec} <= av.codecs_available


COLOURS = (
    (255, 0, 0),
    (0, 255, 0),
    (0, 0, 255),
    (255, 255, 0),
    (0, 255, 255),
    (255, 0, 255),
    (255, 255, 255),
    (0, 0, 0),
)
AUDIO_RATE = 48_000
# Options that make the slow encoders quick enough for tests.
FAST_OPTIONS = {
    "libx264": {"preset": "ultrafast"},
    "libvpx": {"deadline": "realtime", "cpu-used": "8"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8"},
    "libaom-av1": {"cpu-used": "8", "usage": "realtime"},
}


def colour_at(time_sec: float, *, colour_sec: float) -> tuple[int, int, int]:
    return COLOURS[math.floor(time_sec / colour_sec + 1e-9) % len(COLOURS)]


def make_video(
    fmt: str = "mp4",
    *,
    seconds: float = 4.0,
    fps: float = 10,
    size: tuple[int, int] = (96, 64),
    colour_sec: float = 1.0,
    audio: bool = True,
    audio_offset_sec: float = 0.0,
    grain: int = 0,
    keyframe_interval: int | None = None,
    path: Path | None = None,
) -> bytes:
    """The encoded file (also written to `path` when given); frame i shows
    `colour_at(i / fps)`, and the audio is a tone of 220 Hz times the colour's number, starting
    `audio_offset_sec` after the video. `grain`: the amplitude of random noise on the frames,
    for files that cost what camera footage costs to decode. `keyframe_interval`: frames from
    one keyframe to the next (None: the encoder's choice)."""
    container_format, video_codec, audio_codec = VIDEO_FORMATS[fmt]
    buffer = io.BytesIO()
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(buffer, mode="w", format=container_format) as container:
        video = container.add_stream(
            video_codec, rate=rate, options=FAST_OPTIONS.get(video_codec, {})
        )
        assert isinstance(video, av.VideoStream)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        if keyframe_interval is not None:
            video.codec_context.gop_size = keyframe_interval
        sound = container.add_stream(audio_codec, rate=AUDIO_RATE) if audio else None
        if sound is not None:
            assert isinstance(sound, av.AudioStream)
            sound.layout = "mono"
        frames = max(1, round(seconds * float(rate)))
        random = np.random.default_rng(0)
        for index in range(frames):
            pixels = np.empty((size[1], size[0], 3), dtype=np.uint8)
            pixels[:] = colour_at(index / float(rate), colour_sec=colour_sec)
            if grain:
                noise = random.integers(-grain, grain + 1, pixels.shape)
                pixels = np.clip(pixels + noise, 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            frame.time_base = 1 / rate
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if sound is not None:
            _encode_tone(
                container,
                sound,
                seconds=seconds,
                colour_sec=colour_sec,
                offset_sec=audio_offset_sec,
            )
    data = buffer.getvalue()
    if path is not None:
        path.write_bytes(data)
    return data


def tone(
    seconds: float, *, colour_sec: float, sampling_rate: int = AUDIO_RATE, start: int = 0
) -> np.ndarray:
    """The track's samples from sample `start` on."""
    times = np.arange(start, start + round(seconds * sampling_rate)) / sampling_rate
    pitch = 220.0 * (1 + np.floor(times / colour_sec + 1e-9) % len(COLOURS))
    return (0.3 * np.sin(2 * np.pi * pitch * times)).astype(np.float32)


def _encode_tone(
    container: av.container.OutputContainer,
    stream: av.AudioStream,
    *,
    seconds: float,
    colour_sec: float,
    offset_sec: float,
) -> None:
    # Made a frame at a time: an hour of samples would take 700 MB.
    chunk = stream.codec_context.frame_size or 1024
    offset = round(offset_sec * AUDIO_RATE)
    total = round(seconds * AUDIO_RATE)
    for start in range(0, total, chunk):
        samples = tone(min(chunk, total - start) / AUDIO_RATE, colour_sec=colour_sec, start=start)
        frame = av.AudioFrame.from_ndarray(samples[np.newaxis, :], format="flt", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = offset + start
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
