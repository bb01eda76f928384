"""Decoded inputs written back as files, for a model that takes files (a hosted Embed API):
images as PNG (lossless) or, where that is too large, JPEG; audio as 16-bit WAV; a video clip's
sampled frames as MP4 (H.264 at high quality) with its audio track as AAC."""

from __future__ import annotations

import io
import wave
from fractions import Fraction

import av
import numpy as np
from PIL.Image import Image

from embeddings.media.video import VideoClip

# H.264 at this quality is visually lossless; the clip's frames are few (a frame a second).
VIDEO_OPTIONS = {"crf": "16", "preset": "veryfast"}
AUDIO_BIT_RATE = 192_000


JPEG_QUALITY = 95
# Each try at a smaller JPEG scales the sides by this.
SHRINK = 0.75


def image_bytes(image: Image, *, max_bytes: int) -> bytes:
    """PNG where it fits in `max_bytes`; otherwise JPEG at high quality, its sides scaled down
    a quarter at a time until it fits (a model sees a few hundred pixels a side anyway)."""
    data = _saved(image, "PNG")
    scaled = image.convert("RGB")
    while len(data) > max_bytes and min(scaled.size) > 1:
        data = _saved(scaled, "JPEG", quality=JPEG_QUALITY)
        width, height = scaled.size
        scaled = scaled.resize((max(1, round(width * SHRINK)), max(1, round(height * SHRINK))))
    return data


def _saved(image: Image, file_format: str, **options: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, file_format, **options)
    return buffer.getvalue()


def wav_bytes(samples: np.ndarray, *, sampling_rate: int) -> bytes:
    """Mono float samples in -1..1 as 16-bit PCM."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(sampling_rate)
        file.writeframes(pcm.tobytes())
    return buffer.getvalue()


def mp4_bytes(clip: VideoClip, *, sampling_rate: int) -> bytes:
    """The clip's frames at the rate they were sampled, from 0 s, and its audio (mono at
    `sampling_rate`) if it has any."""
    frames = _even_sized(clip.frames)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        rate = _frame_rate(clip.frame_times)
        video = container.add_stream("libx264", rate=rate, options=VIDEO_OPTIONS)
        video.height, video.width = frames.shape[1:3]
        video.pix_fmt = "yuv420p"
        # Every stream is added before the first packet is written.
        sound = None
        if clip.audio is not None and clip.audio.size:
            sound = container.add_stream("aac", rate=sampling_rate)
            sound.layout = "mono"
            sound.bit_rate = AUDIO_BIT_RATE
        for index, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            frame.time_base = 1 / rate
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if sound is not None and clip.audio is not None:
            _write_audio(container, sound, clip.audio, sampling_rate=sampling_rate)
    return buffer.getvalue()


def _even_sized(frames: np.ndarray) -> np.ndarray:
    """H.264's 4:2:0 takes even sides: an odd one repeats its last row or column."""
    _, height, width, _ = frames.shape
    return np.pad(frames, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)), mode="edge")


def _frame_rate(times: tuple[float, ...]) -> Fraction:
    if len(times) < 2 or times[-1] <= times[0]:
        return Fraction(1)
    return Fraction((len(times) - 1) / (times[-1] - times[0])).limit_denominator(1001)


def _write_audio(
    container: av.container.OutputContainer,
    stream: av.AudioStream,
    samples: np.ndarray,
    *,
    sampling_rate: int,
) -> None:
    chunk = stream.codec_context.frame_size or 1024
    for start in range(0, samples.size, chunk):
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples[np.newaxis, start : start + chunk], dtype=np.float32),
            format="flt",
            layout="mono",
        )
        frame.sample_rate = sampling_rate
        frame.pts = start
        frame.time_base = Fraction(1, sampling_rate)
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
