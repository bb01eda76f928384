from __future__ import annotations

import io
import itertools
import math
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from typing import Literal

import av
import numpy as np
from av.audio.stream import AudioStream
from av.container import InputContainer

from embeddings.conf import AudioLimits
from embeddings.errors import InputError

SUPPORTED_FORMATS = "WAV, MP3, M4A/AAC, OGG (Vorbis or Opus), FLAC, WebM"
# FFmpeg demuxers for those formats; any other container is refused before it is parsed.
DEMUXERS = ("wav", "mp3", "mov", "aac", "ogg", "flac", "matroska")
# PCM in Matroska or MOV can hold a whole file in one frame (resampled whole, a 20 MB frame at
# 1 kHz takes 4 GB); longer frames are resampled in pieces, and only as far as they are read.
MAX_FRAME_SAMPLES = 1 << 16

# "refuse": audio longer than the limit is an InputError; "cut": the clip ends at the limit.
BeyondLimit = Literal["refuse", "cut"]


@dataclass(frozen=True, kw_only=True)
class AudioClip:
    """The part of an audio file to embed, checked whole but not kept decoded.

    A long file decodes to hundreds of megabytes, so its samples are decoded again, one
    segment at a time, by `split_clip`.
    """

    data: bytes = field(repr=False)
    limits: AudioLimits = field(repr=False)
    sampling_rate: int
    skipped: int
    length: int
    # The file goes on past the limit, and that part was left out.
    cut: bool = False

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
    data: bytes,
    *,
    sampling_rate: int,
    limits: AudioLimits,
    start_offset_sec: float = 0.0,
    beyond_limit: BeyondLimit = "refuse",
) -> AudioClip:
    """Decodes the file once up to the limit, keeping only counts, and refuses it if it
    cannot be embedded; what the header already rules out is refused before decoding."""
    _check_offset(start_offset_sec, limits=limits)
    if not data:
        raise InputError("the audio file is empty.")
    skipped = round(start_offset_sec * sampling_rate)
    limit = math.floor(limits.max_duration_sec * sampling_rate)
    decoded = 0
    with open_audio(data) as container:
        stream = audio_stream(container, limits=limits)
        _check_offset_within(start_offset_sec, declared_duration_sec(container))
        chunks = _mono_chunks(container, stream, sampling_rate=sampling_rate, limits=limits)
        with closing(chunks):
            for chunk in chunks:
                check_finite(chunk[max(skipped - decoded, 0) : limit - decoded])
                decoded += len(chunk)
                if decoded > limit:
                    break
    if decoded > limit and beyond_limit == "refuse":
        raise InputError(f"the audio is longer than the limit of {limits.max_duration_sec:g} s.")
    if not decoded:
        raise InputError("the audio file contains no samples.")
    kept = min(decoded, limit)
    if kept <= skipped:
        raise InputError(
            f"audio_start_offset_sec ({float(start_offset_sec)}) is beyond the end of the audio "
            f"({round(kept / sampling_rate, 2)} s)."
        )
    length = kept - skipped
    if length < limits.min_duration_sec * sampling_rate:
        after = " after the offset" if skipped else ""
        raise InputError(
            f"the audio{after} is {length / sampling_rate:.3g} s long; the shortest accepted is "
            f"{limits.min_duration_sec:g} s."
        )
    return AudioClip(
        data=data,
        limits=limits,
        sampling_rate=sampling_rate,
        skipped=skipped,
        length=length,
        cut=decoded > limit,
    )


def _check_offset(start_offset_sec: float, *, limits: AudioLimits) -> None:
    if not 0 <= start_offset_sec < math.inf:
        raise InputError(
            f"audio_start_offset_sec ({start_offset_sec}) must be a number of seconds, 0 or more."
        )
    # The limit counts from the file's start, so this offset would leave too little to embed.
    if start_offset_sec > limits.max_duration_sec - limits.min_duration_sec:
        raise InputError(
            f"audio_start_offset_sec ({float(start_offset_sec)}) is beyond the longest audio "
            f"accepted ({limits.max_duration_sec:g} s)."
        )


def _check_offset_within(start_offset_sec: float, duration_sec: float | None) -> None:
    if duration_sec is not None and start_offset_sec >= duration_sec:
        raise InputError(
            f"audio_start_offset_sec ({float(start_offset_sec)}) is beyond the end of the audio "
            f"({round(duration_sec, 2)} s)."
        )


def open_audio(data: bytes) -> InputContainer:
    refusal = (
        f"unsupported audio format or unreadable file; supported formats: {SUPPORTED_FORMATS}."
    )
    with refused(lambda _: refusal):
        return av.open(
            io.BytesIO(data), mode="r", container_options={"format_whitelist": ",".join(DEMUXERS)}
        )


def audio_stream(container: InputContainer, *, limits: AudioLimits) -> AudioStream:
    """The stream to decode, refused if its header rules it out."""
    if not container.streams.audio:
        raise InputError("the file has no audio stream.")
    stream = container.streams.audio[0]
    # PyAV crashes the process when asked to decode a stream it has no decoder for.
    if stream.codec_context is None:
        raise InputError(f"unsupported audio codec; supported formats: {SUPPORTED_FORMATS}.")
    _check_format(
        sample_rate=stream.codec_context.sample_rate,
        channels=stream.codec_context.channels,
        limits=limits,
    )
    return stream


def declared_duration_sec(container: InputContainer) -> float | None:
    duration = container.duration or 0
    return duration / av.time_base if duration > 0 else None


def _check_format(*, sample_rate: int, channels: int, limits: AudioLimits) -> None:
    low, high = limits.min_sample_rate, limits.max_sample_rate
    if not low <= sample_rate <= high:
        raise InputError(
            f"the audio's sample rate ({sample_rate} Hz) is outside the accepted range, "
            f"{low} to {high} Hz."
        )
    if not 1 <= channels <= limits.max_channels:
        raise InputError(
            f"the audio has {channels} channels; 1 to {limits.max_channels} are accepted."
        )


def _mono_chunks(
    container: InputContainer, stream: AudioStream, *, sampling_rate: int, limits: AudioLimits
) -> Generator[np.ndarray, None, None]:
    mixer = MonoResampler(sampling_rate=sampling_rate, limits=limits)
    with refused(lambda error: f"could not decode the audio: {error}"):
        for frame in container.decode(stream):
            yield from mixer.push(frame)
        yield from mixer.flush()


class MonoResampler:
    """Decoded audio frames in, mono float32 samples at `sampling_rate` out; a frame whose
    format is outside the limits is refused."""

    def __init__(self, *, sampling_rate: int, limits: AudioLimits) -> None:
        self.sampling_rate = sampling_rate
        self.limits = limits
        self._resampler: av.AudioResampler | None = None
        self._source: tuple[str, str, int] | None = None

    def push(self, frame: av.AudioFrame) -> Iterator[np.ndarray]:
        # MP3, ADTS and chained Ogg can change their parameters at any frame.
        _check_format(
            sample_rate=frame.sample_rate, channels=frame.layout.nb_channels, limits=self.limits
        )
        parameters = (frame.format.name, frame.layout.name, frame.sample_rate)
        if self._resampler is None or parameters != self._source:
            yield from self.flush()
            self._resampler = av.AudioResampler(
                format="flt", layout="mono", rate=self.sampling_rate
            )
            self._source = parameters
        for piece in _pieces(frame):
            yield from _arrays(self._resampler.resample(_positioned(piece)))

    def flush(self) -> Iterator[np.ndarray]:
        if self._resampler is not None:
            yield from _arrays(self._resampler.resample(None))


def _pieces(frame: av.AudioFrame) -> Iterator[av.AudioFrame]:
    if frame.samples <= MAX_FRAME_SAMPLES:
        yield frame
        return
    samples = frame.to_ndarray()
    # Packed formats interleave the channels in one row.
    step = MAX_FRAME_SAMPLES * (1 if frame.format.is_planar else frame.layout.nb_channels)
    for start in range(0, samples.shape[1], step):
        piece = av.AudioFrame.from_ndarray(
            # numpy's stubs lose the frame's sample type that av's stubs ask for.
            np.ascontiguousarray(samples[:, start : start + step]),  # type: ignore[arg-type]
            format=frame.format.name,
            layout=frame.layout.name,
        )
        piece.sample_rate = frame.sample_rate
        yield piece


def _positioned(frame: av.AudioFrame) -> av.AudioFrame:
    """The frame as one FFmpeg can mix down to mono: channels without speaker positions (a WAV
    with 9 channels and no channel mask) are averaged here, each counting the same."""
    if all(channel.name != "NONE" for channel in frame.layout.channels):
        return frame
    samples = frame.to_ndarray()
    channels = frame.layout.nb_channels
    # Packed formats interleave the channels in one row.
    per_channel = samples if frame.format.is_planar else samples.reshape(-1, channels).T
    mixed = per_channel.mean(axis=0, dtype=np.float64).astype(samples.dtype)
    mono = av.AudioFrame.from_ndarray(mixed[np.newaxis, :], format=frame.format.name, layout="mono")
    mono.sample_rate = frame.sample_rate
    return mono


@contextmanager
def refused(message: Callable[[Exception], str]) -> Iterator[None]:
    """Whatever FFmpeg or PyAV raise on this input is an InputError; the process running out
    of memory is not (FFmpeg's own MemoryError is its answer to the input)."""
    try:
        yield
    except InputError:
        raise
    except Exception as error:
        if isinstance(error, MemoryError) and not isinstance(error, av.FFmpegError):
            raise
        raise InputError(message(error)) from error


def _arrays(frames: Iterable[av.AudioFrame]) -> Iterator[np.ndarray]:
    for frame in frames:
        yield frame.to_ndarray().reshape(-1)


def check_finite(samples: np.ndarray) -> None:
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


def split_clip(
    clip: AudioClip, *, target_sec: float = 10.0, fixed: bool = False
) -> Generator[AudioSegment, None, None]:
    """Equal segments closest to `target_sec`, or with `fixed` segments of exactly
    `target_sec` from the clip's start, the last one shorter; each decoded when it is taken."""
    bounds = (
        _fixed_bounds(clip, segment_sec=target_sec)
        if fixed
        else _equal_bounds(clip, target_sec=target_sec)
    )
    starts = [clip.skipped + bound for bound in bounds[:-1]]
    lengths = [end - start for start, end in itertools.pairwise(bounds)]
    rate = clip.sampling_rate
    with open_audio(clip.data) as container:
        stream = audio_stream(container, limits=clip.limits)
        chunks = _mono_chunks(container, stream, sampling_rate=rate, limits=clip.limits)
        with closing(chunks):
            for start, samples in zip(starts, _regroup(chunks, clip.skipped, lengths), strict=True):
                yield AudioSegment(start / rate, (start + len(samples)) / rate, samples)


def _equal_bounds(clip: AudioClip, *, target_sec: float) -> list[int]:
    count = len(segment_lengths(clip.duration_sec, target_sec=target_sec))
    return [round(clip.length * index / count) for index in range(count + 1)]


def _fixed_bounds(clip: AudioClip, *, segment_sec: float) -> list[int]:
    bounds = [*range(0, clip.length, round(segment_sec * clip.sampling_rate)), clip.length]
    # A last sliver shorter than the shortest audio accepted is too short for the model to see;
    # it ends the segment before it instead.
    if (
        len(bounds) > 2
        and bounds[-1] - bounds[-2] < clip.limits.min_duration_sec * clip.sampling_rate
    ):
        del bounds[-2]
    return bounds


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
