from __future__ import annotations

import io
import itertools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import av
import numpy as np
from av.container import InputContainer

from embeddings.errors import InputError

SUPPORTED_FORMATS = "WAV, MP3, M4A/AAC, OGG (Vorbis or Opus), FLAC, WebM"
# FFmpeg demuxers for those formats; any other container is refused before it is parsed.
DEMUXERS = "wav,mp3,mov,aac,ogg,flac,matroska"


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
    if not 0 <= start_offset_sec < math.inf:
        raise InputError(
            f"audio_start_offset_sec ({start_offset_sec}) must be a number of seconds, 0 or more."
        )
    if not data:
        raise InputError("the audio file is empty.")
    skip = round(start_offset_sec * sampling_rate)
    limit = round(max_duration_sec * sampling_rate)
    kept: list[np.ndarray] = []
    decoded = kept_count = 0
    with open_audio(data) as container:
        for chunk in _mono_chunks(container, sampling_rate=sampling_rate):
            part = chunk[max(skip - decoded, 0) :]
            decoded += len(chunk)
            if not len(part):
                continue
            _check_finite(part)
            kept.append(part)
            kept_count += len(part)
            if kept_count > limit:
                raise InputError(
                    f"the audio after the offset is longer than the limit of "
                    f"{max_duration_sec:g} s."
                )
    if not decoded:
        raise InputError("the audio file contains no samples.")
    if not kept:
        raise InputError(
            f"audio_start_offset_sec ({float(start_offset_sec)}) is beyond the end of the audio "
            f"({round(decoded / sampling_rate, 2)} s)."
        )
    return AudioClip(np.concatenate(kept), sampling_rate, skip / sampling_rate)


def open_audio(data: bytes) -> InputContainer:
    try:
        return av.open(io.BytesIO(data), mode="r", container_options={"format_whitelist": DEMUXERS})
    except MemoryError:
        raise
    except Exception as error:
        raise InputError(
            f"unsupported audio format or unreadable file; supported formats: {SUPPORTED_FORMATS}."
        ) from error


def _mono_chunks(container: InputContainer, *, sampling_rate: int) -> Iterator[np.ndarray]:
    if not container.streams.audio:
        raise InputError("the file has no audio stream.")
    stream = container.streams.audio[0]
    # PyAV crashes the process when asked to decode a stream it has no decoder for.
    if stream.codec_context is None:
        raise InputError(f"unsupported audio codec; supported formats: {SUPPORTED_FORMATS}.")
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sampling_rate)
    try:
        for frame in container.decode(stream):
            yield from _arrays(resampler.resample(frame))
        yield from _arrays(resampler.resample(None))
    except MemoryError:
        raise
    except Exception as error:
        raise InputError(f"could not decode the audio: {error}") from error


def _arrays(frames: Iterable[av.AudioFrame]) -> Iterator[np.ndarray]:
    for frame in frames:
        yield frame.to_ndarray().reshape(-1)


def _check_finite(samples: np.ndarray) -> None:
    if not np.isfinite(samples).all():
        raise InputError("the audio contains invalid (NaN or infinite) samples.")


def segment_lengths(duration_sec: float, *, target_sec: float = 10.0) -> list[float]:
    if duration_sec <= 0:
        return []
    fewer = max(1, math.floor(duration_sec / target_sec))
    # Only the counts either side of duration / target can be closest; on a tie min() keeps
    # the first, which has the longer parts.
    count = min((fewer, fewer + 1), key=lambda n: abs(duration_sec / n - target_sec))
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
