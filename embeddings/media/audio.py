from __future__ import annotations

import io
import itertools
import math
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field

import av
import numpy as np
from av.container import InputContainer

from embeddings.errors import InputError

SUPPORTED_FORMATS = "WAV, MP3, M4A/AAC, OGG (Vorbis or Opus), FLAC, WebM"
# FFmpeg demuxers for those formats; any other container is refused before it is parsed.
DEMUXERS = "wav,mp3,mov,aac,ogg,flac,matroska"


@dataclass(frozen=True)
class AudioClip:
    """The part of an audio file to embed, checked whole but not kept decoded.

    A long file decodes to hundreds of megabytes, so its samples are decoded again, one
    segment at a time, by `split_clip`.
    """

    data: bytes = field(repr=False)
    sampling_rate: int
    skipped: int
    length: int

    @property
    def start_sec(self) -> float:
        return self.skipped / self.sampling_rate

    @property
    def duration_sec(self) -> float:
        return self.length / self.sampling_rate

    @property
    def end_sec(self) -> float:
        return self.start_sec + self.duration_sec


@dataclass(frozen=True)
class AudioSegment:
    start_sec: float
    end_sec: float
    samples: np.ndarray


def check_audio(
    data: bytes, *, sampling_rate: int, start_offset_sec: float = 0.0, max_duration_sec: float
) -> AudioClip:
    """Decodes the file once, keeping only counts, and refuses it if it cannot be embedded."""
    if not 0 <= start_offset_sec < math.inf:
        raise InputError(
            f"audio_start_offset_sec ({start_offset_sec}) must be a number of seconds, 0 or more."
        )
    if not data:
        raise InputError("the audio file is empty.")
    skipped = round(start_offset_sec * sampling_rate)
    limit = round(max_duration_sec * sampling_rate)
    decoded = 0
    with open_audio(data) as container:
        for chunk in _mono_chunks(container, sampling_rate=sampling_rate):
            _check_finite(chunk[max(skipped - decoded, 0) :])
            decoded += len(chunk)
            if decoded - skipped > limit:
                raise InputError(
                    f"the audio after the offset is longer than the limit of "
                    f"{max_duration_sec:g} s."
                )
    if not decoded:
        raise InputError("the audio file contains no samples.")
    if decoded <= skipped:
        raise InputError(
            f"audio_start_offset_sec ({float(start_offset_sec)}) is beyond the end of the audio "
            f"({round(decoded / sampling_rate, 2)} s)."
        )
    return AudioClip(data, sampling_rate, skipped, decoded - skipped)


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


def split_clip(clip: AudioClip, *, target_sec: float = 10.0) -> Generator[AudioSegment, None, None]:
    """Equal segments closest to `target_sec`, each decoded when it is taken."""
    count = len(segment_lengths(clip.duration_sec, target_sec=target_sec))
    bounds = [round(clip.length * index / count) for index in range(count + 1)]
    starts = [clip.skipped + bound for bound in bounds[:-1]]
    lengths = [end - start for start, end in itertools.pairwise(bounds)]
    rate = clip.sampling_rate
    with open_audio(clip.data) as container:
        chunks = _mono_chunks(container, sampling_rate=rate)
        for start, samples in zip(starts, _regroup(chunks, clip.skipped, lengths), strict=True):
            yield AudioSegment(start / rate, (start + len(samples)) / rate, samples)


def _regroup(
    chunks: Iterator[np.ndarray], skipped: int, lengths: list[int]
) -> Iterator[np.ndarray]:
    """The samples of `chunks` after the first `skipped`, cut into arrays of `lengths`."""
    pending = np.empty(0, dtype=np.float32)
    for length in lengths:
        parts, available = [pending], len(pending)
        while available < length and (chunk := next(chunks, None)) is not None:
            part = chunk[skipped:]
            skipped = max(skipped - len(chunk), 0)
            parts.append(part)
            available += len(part)
        joined = np.concatenate(parts)
        yield joined[:length]
        pending = joined[length:]
