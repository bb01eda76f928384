from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np

from embeddings.errors import InputError

SUPPORTED_FORMATS = "WAV, MP3, M4A/AAC, OGG/Vorbis, Opus, FLAC, WebM"


@dataclass(frozen=True)
class AudioClip:
    samples: np.ndarray
    sampling_rate: int
    start_sec: float

    @property
    def duration_sec(self) -> float:
        return len(self.samples) / self.sampling_rate

    @property
    def end_sec(self) -> float:
        return self.start_sec + self.duration_sec


@dataclass(frozen=True)
class AudioSegment:
    start_sec: float
    end_sec: float
    samples: np.ndarray


def decode_audio(
    data: bytes, *, sampling_rate: int, start_offset_sec: float = 0.0, max_duration_sec: float
) -> AudioClip:
    if not data:
        raise InputError("the audio file is empty.")
    skip = round(start_offset_sec * sampling_rate)
    limit = round(max_duration_sec * sampling_rate)
    kept: list[np.ndarray] = []
    seen = kept_count = 0
    for chunk in _decoded_chunks(data, sampling_rate=sampling_rate):
        if not np.isfinite(chunk).all():
            raise InputError("the audio contains invalid (NaN or infinite) samples.")
        start = max(skip - seen, 0)
        seen += len(chunk)
        if start >= len(chunk):
            continue
        kept.append(chunk[start:])
        kept_count += len(chunk) - start
        if kept_count > limit:
            raise InputError(
                f"the audio after the offset is longer than the limit of {max_duration_sec:g} s."
            )
    if seen == 0:
        raise InputError("the audio file contains no samples.")
    if kept_count == 0:
        raise InputError(
            f"audio_start_offset_sec ({start_offset_sec:g}) is beyond the end of the audio "
            f"({seen / sampling_rate:.2f} s)."
        )
    return AudioClip(np.concatenate(kept), sampling_rate, skip / sampling_rate)


def _decoded_chunks(data: bytes, *, sampling_rate: int) -> Iterator[np.ndarray]:
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError):
        raise InputError(
            f"unsupported or unreadable audio; supported formats: {SUPPORTED_FORMATS}."
        ) from None
    with container:
        if not container.streams.audio:
            raise InputError("the file has no audio stream.")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sampling_rate)
        try:
            for frame in container.decode(stream):
                for resampled in resampler.resample(frame):
                    yield resampled.to_ndarray().reshape(-1)
            for resampled in resampler.resample(None):
                yield resampled.to_ndarray().reshape(-1)
        except (av.FFmpegError, OSError, ValueError) as error:
            raise InputError(f"could not decode the audio: {error}") from None


def segment_lengths(duration_sec: float, *, target_sec: float = 10.0) -> list[float]:
    """Equal parts as close to target_sec as possible, as TwelveLabs' Marengo splits audio."""
    if duration_sec <= 0:
        return []
    count = max(1, int(duration_sec // target_sec))
    # Of the two counts around duration / target, take the one whose parts are closer to it;
    # on a tie, the longer parts.
    if abs(duration_sec / (count + 1) - target_sec) < abs(duration_sec / count - target_sec):
        count += 1
    return [duration_sec / count] * count


def split_clip(clip: AudioClip, *, target_sec: float = 10.0) -> list[AudioSegment]:
    total = len(clip.samples)
    count = len(segment_lengths(clip.duration_sec, target_sec=target_sec))
    bounds = [round(total * index / count) for index in range(count + 1)]
    rate = clip.sampling_rate
    return [
        AudioSegment(
            start_sec=clip.start_sec + start / rate,
            end_sec=clip.start_sec + end / rate,
            samples=clip.samples[start:end],
        )
        for start, end in itertools.pairwise(bounds)
    ]
