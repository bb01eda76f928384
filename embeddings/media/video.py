from __future__ import annotations

import io
import math
from collections import deque
from collections.abc import Generator, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import numpy as np
from av.container import InputContainer
from av.video.stream import VideoStream
from PIL import Image

from embeddings.conf import VideoLimits
from embeddings.errors import InputError
from embeddings.media.audio import (
    MonoResampler,
    audio_stream,
    check_finite,
    declared_duration_sec,
    refused,
)

SUPPORTED_FORMATS = "MP4 or MOV (H.264, H.265, AV1), WebM (VP8, VP9, AV1), MKV"
# FFmpeg demuxers for those containers ("mov" is MP4 and MOV, "matroska" is MKV and WebM); any
# other container is refused before it is parsed.
DEMUXERS = ("mov", "matroska")
# A frame counts as showing at a sampled time up to this much after it (timestamps in a
# container's time base round either way).
TIME_TOLERANCE_SEC = 1e-3
END_TOLERANCE_SEC = 0.1
# The shortest clip: shorter ends of a video join the clip before.
MIN_CLIP_SEC = 0.5
# How far the audio may lag the video in a file's packet order before a clip goes on without
# the rest of it (as silence).
AUDIO_LAG_SEC = 5.0

Source = bytes | Path


@dataclass(frozen=True, kw_only=True)
class VideoFile:
    """The part of a video file to embed, checked but not decoded: `split_video` decodes it,
    one clip at a time."""

    source: Source = field(repr=False)
    start_sec: float
    end_sec: float
    width: int
    height: int
    has_audio: bool
    limits: VideoLimits = field(repr=False)

    @property
    def duration_sec(self) -> float:
        return self.end_sec - self.start_sec


@dataclass(frozen=True, kw_only=True)
class VideoClip:
    start_sec: float
    end_sec: float
    # (T, H, W, 3) uint8 RGB, the frames showing at `frame_times`.
    frames: np.ndarray = field(repr=False)
    frame_times: tuple[float, ...]
    # Mono float32 at the sampling rate asked for; None when the file has no audio track.
    audio: np.ndarray | None = field(repr=False)

    @property
    def duration_sec(self) -> float:
        return self.end_sec - self.start_sec


def check_video(
    source: Source,
    *,
    limits: VideoLimits,
    start_sec: float = 0.0,
    end_sec: float | None = None,
    sampling_rate: int,
) -> VideoFile:
    """Refuses what cannot be embedded within the limits: the header first, then a pass over
    the packets (no decoding) for the true duration and frame count, then the first frame
    decoded. `sampling_rate` is the one the audio track will be resampled to."""
    _check_offsets(start_sec, end_sec)
    size = len(source) if isinstance(source, bytes) else _file_size(source)
    if not size:
        raise InputError("the video file is empty.")
    if size > limits.max_bytes:
        raise InputError(
            f"the video file is {size} bytes; the largest accepted is {limits.max_bytes} bytes."
        )
    with open_video(source) as container:
        stream = _video_stream(container, limits=limits)
        audio = container.streams.audio[0] if container.streams.audio else None
        has_audio = audio is not None and audio.codec_context is not None
        if has_audio:
            audio_stream(container, limits=limits.audio)
        duration = _scan(container, stream, limits=limits)
    end = duration if end_sec is None else end_sec
    if start_sec >= duration:
        raise InputError(
            f"the start offset ({start_sec:g} s) is at or beyond the end of the video "
            f"({duration:.2f} s)."
        )
    # A header's duration and the packets' can differ by a frame or so.
    if end > duration + END_TOLERANCE_SEC:
        raise InputError(
            f"the end offset ({end:g} s) is beyond the end of the video ({duration:.2f} s)."
        )
    end = min(end, duration)
    if end - start_sec < MIN_CLIP_SEC:
        raise InputError(
            f"the video to embed is {end - start_sec:.2f} s long; the shortest accepted is "
            f"{MIN_CLIP_SEC:g} s."
        )
    if end > limits.max_duration_sec:
        raise InputError(
            f"the video is longer than the limit of {limits.max_duration_sec:g} s; "
            "embed a part of it with an end offset within the limit."
        )
    return VideoFile(
        source=source,
        start_sec=start_sec,
        end_sec=end,
        width=stream.codec_context.width,
        height=stream.codec_context.height,
        has_audio=has_audio,
        limits=limits,
    )


def _check_offsets(start_sec: float, end_sec: float | None) -> None:
    if not 0 <= start_sec < math.inf:
        raise InputError(f"the start offset ({start_sec}) must be a number of seconds, 0 or more.")
    if end_sec is not None and not start_sec < end_sec < math.inf:
        raise InputError(
            f"the end offset ({end_sec}) must be a number of seconds after the start offset "
            f"({start_sec:g})."
        )


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError as error:
        raise InputError(f"the video file cannot be read: {error.strerror}.") from error


def open_video(source: Source) -> InputContainer:
    refusal = (
        f"unsupported video format or unreadable file; supported formats: {SUPPORTED_FORMATS}."
    )
    file = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    with refused(lambda _: refusal):
        return av.open(file, mode="r", container_options={"format_whitelist": ",".join(DEMUXERS)})


def _video_stream(container: InputContainer, *, limits: VideoLimits) -> VideoStream:
    # Cover art is a video stream of one picture.
    moving = [
        stream
        for stream in container.streams.video
        if not stream.disposition & av.stream.Disposition.attached_pic
    ]
    if not moving:
        raise InputError("the file has no video stream.")
    stream = moving[0]
    # PyAV crashes the process when asked to decode a stream it has no decoder for.
    if stream.codec_context is None:
        raise InputError(f"unsupported video codec; supported formats: {SUPPORTED_FORMATS}.")
    _check_frame_size(stream.codec_context.width, stream.codec_context.height, limits=limits)
    # A stream can change its frame size at any frame; the decoder refuses to allocate one past
    # the limit (checking each decoded frame afterwards would be too late for its memory).
    stream.codec_context.options = {"max_pixels": str(limits.max_frame_pixels)}
    rate = stream.average_rate or stream.guessed_rate
    if rate is not None and rate > limits.max_frame_rate:
        raise InputError(
            f"the video has {float(rate):g} frames a second; the most accepted is "
            f"{limits.max_frame_rate:g}."
        )
    declared = declared_duration_sec(container)
    if declared is not None and declared > _most_seconds_decodable(limits):
        _refuse_duration(limits)
    return stream


def _check_frame_size(width: int, height: int, *, limits: VideoLimits) -> None:
    if width <= 0 or height <= 0:
        raise InputError("the video's frames have no size.")
    if width * height > limits.max_frame_pixels:
        raise InputError(
            f"the video's frames are {width}x{height} pixels; the most accepted is "
            f"{limits.max_frame_pixels} pixels a frame."
        )


def _most_seconds_decodable(limits: VideoLimits) -> float:
    # A longer file is still accepted for a part within the limit, but not one far past it: the
    # packet pass reads the whole file.
    return 4 * limits.max_duration_sec


def _refuse_duration(limits: VideoLimits) -> None:
    raise InputError(f"the video is far longer than the limit of {limits.max_duration_sec:g} s.")


def _scan(container: InputContainer, stream: VideoStream, *, limits: VideoLimits) -> float:
    """The video's duration in seconds, from its packets' timestamps (a header can claim any
    duration); the frame count and the first frame are checked on the way."""
    origin = _origin(container)
    end = 0.0
    frames = 0
    decoded_one = False
    with refused(lambda error: f"could not read the video: {error}"):
        for packet in container.demux(stream):
            if packet.pts is None or packet.time_base is None:
                continue
            frames += 1
            packet_end = float((packet.pts + (packet.duration or 0)) * packet.time_base) - origin
            end = max(end, packet_end)
            if end > _most_seconds_decodable(limits):
                _refuse_duration(limits)
            _check_frame_count(frames, end, limits=limits)
            if not decoded_one:
                for frame in stream.decode(packet):
                    _check_frame_size(frame.width, frame.height, limits=limits)
                    decoded_one = True
    if not decoded_one:
        raise InputError("no frame of the video could be decoded.")
    return end


def _check_frame_count(frames: int, seconds: float, *, limits: VideoLimits) -> None:
    # A header can claim any frame rate; the frames themselves are counted against the limit
    # (one second's worth of slack for the first frames).
    if frames > limits.max_frame_rate * (seconds + 1):
        raise InputError(
            f"the video has more than {limits.max_frame_rate:g} frames a second, the most accepted."
        )


def _origin(container: InputContainer) -> float:
    """The time the file starts at (MP4 edit lists and WebM cuts can start past 0)."""
    start = container.start_time
    return start / av.time_base if start is not None and start > 0 else 0.0


def clip_bounds(video: VideoFile, *, clip_sec: float) -> list[tuple[float, float]]:
    """TwelveLabs' fixed segmentation: clips of `clip_sec` from the start, the last shorter;
    a last part under MIN_CLIP_SEC (often a muxer's rounding past a whole clip) joins the clip
    before it rather than be a clip of one repeated frame."""
    whole = math.floor(video.duration_sec / clip_sec + TIME_TOLERANCE_SEC)
    rest = video.duration_sec - whole * clip_sec
    count = max(1, whole + (rest >= MIN_CLIP_SEC - TIME_TOLERANCE_SEC))
    starts = [video.start_sec + index * clip_sec for index in range(count)]
    ends = [*starts[1:], video.end_sec]
    return list(zip(starts, ends, strict=True))


def sample_times(start_sec: float, end_sec: float, *, fps: float, max_frames: int) -> list[float]:
    """One frame every 1/fps seconds from the clip's start, as long as half an interval is left
    after it (a clip's end can be a frame's rounding past a whole second), at least one; a clip
    that would take more than `max_frames` gets that many, evenly spread."""
    duration = end_sec - start_sec
    count = max(1, math.ceil(duration * fps - 0.5))
    step = 1 / fps
    if count > max_frames:
        count, step = max_frames, duration / max_frames
    return [start_sec + index * step for index in range(count)]


def split_video(
    video: VideoFile, *, clip_sec: float, fps: float, sampling_rate: int
) -> Generator[VideoClip, None, None]:
    """The clips in time order, decoded in one pass over the file (video and audio packets
    together) and handed on one at a time, so memory holds one clip."""
    bounds = clip_bounds(video, clip_sec=clip_sec)
    limits = video.limits
    with open_video(video.source) as container:
        stream = _video_stream(container, limits=limits)
        sound = container.streams.audio[0] if video.has_audio else None
        streams = [stream] if sound is None else [stream, sound]
        origin = _origin(container)
        decoder = _ClipDecoder(
            video, bounds=bounds, fps=fps, sampling_rate=sampling_rate, origin=origin
        )
        if video.start_sec > 0:
            _seek(container, stream, video.start_sec + origin)
        packets = container.demux(*streams)
        with closing(decoder.clips(packets, sound is not None)) as clips:
            yield from clips


def _seek(container: InputContainer, stream: VideoStream, time_sec: float) -> None:
    """To the keyframe at or before `time_sec`, so a start offset costs no decoding before
    it; where the file cannot seek, decoding starts at its start, as it would have."""
    try:
        container.seek(round(time_sec / _time_base(stream)), stream=stream, backward=True)
    except av.FFmpegError:
        container.seek(0)


class _ClipDecoder:
    """Turns the interleaved packets into clips: each sampled time gets the frame nearest it,
    and the audio is kept from the first clip's start, cut at each clip's end."""

    def __init__(
        self,
        video: VideoFile,
        *,
        bounds: list[tuple[float, float]],
        fps: float,
        sampling_rate: int,
        origin: float,
    ) -> None:
        self.video = video
        self.limits = video.limits
        self.bounds = bounds
        self.fps = fps
        self.sampling_rate = sampling_rate
        self.origin = origin
        self.mixer = MonoResampler(sampling_rate=sampling_rate, limits=video.limits.audio)
        # Audio samples from `audio_start` on, as decoded; the first clip's start is sample 0.
        self.audio_parts: list[np.ndarray] = []
        self.audio_held = 0
        self.audio_dropped = 0
        self.audio_position: int | None = None
        self.audio_needed = round(video.duration_sec * sampling_rate)

    def clips(
        self, packets: Iterator[av.Packet], with_audio: bool
    ) -> Generator[VideoClip, None, None]:
        self.with_audio = with_audio
        # Every clip's sampled times, in order: a frame is taken for the times before the next
        # frame's, whichever clip they belong to.
        targets = deque(
            (index, time)
            for index, bounds in enumerate(self.bounds)
            for time in self._times(bounds)
        )
        self.chosen: list[list[np.ndarray]] = [[] for _ in self.bounds]
        self.ready = 0
        self.latest = -math.inf
        previous: av.VideoFrame | None = None
        previous_time = -math.inf
        frames = 0
        with refused(lambda error: f"could not decode the video: {error}"):
            for packet in packets:
                if packet.stream.type == "audio":
                    for audio_frame in _audio_frames(packet):
                        self._take_audio(audio_frame)
                else:
                    for frame in _video_frames(packet):
                        time = self._time(frame)
                        if time is None:
                            continue
                        frames += 1
                        _check_frame_count(frames, time, limits=self.limits)
                        _check_frame_size(frame.width, frame.height, limits=self.limits)
                        # The times before this frame's take it or the one before, the nearer
                        # (the frame the source's own frame rate puts at that time).
                        while targets and targets[0][1] + TIME_TOLERANCE_SEC < time:
                            index, target = targets.popleft()
                            nearer = (
                                frame
                                if previous is None or time - target < target - previous_time
                                else previous
                            )
                            self.chosen[index].append(_rgb(nearer))
                        previous, previous_time = frame, time
                        self.latest = time
                yield from self._ready_clips(pending=targets, ended=False)
                if self.ready == len(self.bounds):
                    return
            if with_audio:
                for samples in self.mixer.flush():
                    self._hold(samples)
        if previous is None:
            raise InputError("no frame of the video could be decoded.")
        # The video has ended: the times left show its last frame.
        last = _rgb(previous)
        for index, _ in targets:
            self.chosen[index].append(last)
        yield from self._ready_clips(pending=deque(), ended=True)

    def _ready_clips(
        self, *, pending: deque[tuple[int, float]], ended: bool
    ) -> Iterator[VideoClip]:
        """The clips whose frames are all taken and whose audio is all decoded, in order."""
        while self.ready < len(self.bounds):
            start, end = self.bounds[self.ready]
            if pending and pending[0][0] == self.ready:
                return
            if not ended and self.with_audio and not self._audio_reaches(end):
                return
            frames, self.chosen[self.ready] = self.chosen[self.ready], []
            yield VideoClip(
                start_sec=start,
                end_sec=end,
                frames=np.stack(frames),
                frame_times=tuple(self._times((start, end))),
                audio=self._cut_audio(start, end) if self.with_audio else None,
            )
            self.ready += 1

    def _times(self, bounds: tuple[float, float]) -> list[float]:
        start, end = bounds
        return sample_times(start, end, fps=self.fps, max_frames=self.limits.max_frames_per_clip)

    def _time(self, frame: av.VideoFrame | av.AudioFrame) -> float | None:
        if frame.pts is None or frame.time_base is None:
            return None
        return float(frame.pts * frame.time_base) - self.origin

    def _take_audio(self, frame: av.AudioFrame) -> None:
        if self.audio_position is None:
            # The track may start before or after the video; its first sample is placed by
            # its timestamp, and the rest follow on.
            time = self._time(frame) or 0.0
            self.audio_position = round((time - self.video.start_sec) * self.sampling_rate)
        for samples in self.mixer.push(frame):
            self._hold(samples)

    def _hold(self, samples: np.ndarray) -> None:
        check_finite(samples)
        position = self.audio_position or 0
        self.audio_position = position + len(samples)
        # Only the part embedded is kept: a timestamp far before or after it adds nothing.
        first, last = max(position, 0), min(self.audio_position, self.audio_needed)
        if first >= last:
            return
        kept = self.audio_dropped + self.audio_held
        if first > kept:  # the track starts late or skips: silence until it goes on
            self.audio_parts.append(np.zeros(first - kept, dtype=np.float32))
        samples = samples[first - position : last - position]
        self.audio_parts.append(samples[max(kept - first, 0) :])
        self.audio_held = max(last, kept) - self.audio_dropped

    def _audio_reaches(self, end_sec: float) -> bool:
        needed = round((end_sec - self.video.start_sec) * self.sampling_rate)
        # A track that ends (or pauses) before the video would hold every later clip's frames
        # in memory; once the video is this far past the clip, its missing audio is silence.
        return (
            self.audio_dropped + self.audio_held >= needed or self.latest > end_sec + AUDIO_LAG_SEC
        )

    def _cut_audio(self, start_sec: float, end_sec: float) -> np.ndarray:
        first = round((start_sec - self.video.start_sec) * self.sampling_rate)
        last = round((end_sec - self.video.start_sec) * self.sampling_rate)
        held = np.concatenate(self.audio_parts) if self.audio_parts else np.empty(0, np.float32)
        begin = first - self.audio_dropped
        samples = held[max(begin, 0) : last - self.audio_dropped]
        # A track that ends early is silent for the rest of the clip.
        samples = np.pad(samples, (0, (last - first) - len(samples)))
        rest = held[last - self.audio_dropped :]
        self.audio_parts = [rest] if len(rest) else []
        self.audio_held = len(rest)
        self.audio_dropped = last
        return samples.astype(np.float32, copy=False)


def _video_frames(packet: av.Packet) -> list[av.VideoFrame]:
    # av's stubs say a packet decodes to subtitles, whatever its stream.
    return cast(list[av.VideoFrame], packet.decode())


def _audio_frames(packet: av.Packet) -> list[av.AudioFrame]:
    return cast(list[av.AudioFrame], packet.decode())


def _time_base(stream: VideoStream) -> Fraction:
    if stream.time_base is None:
        raise InputError("the video stream has no time base.")
    return stream.time_base


def _rgb(frame: av.VideoFrame) -> np.ndarray:
    return frame.to_ndarray(format="rgb24")


def poster_frame(
    source: Source, *, at_sec: float | None = None, limits: VideoLimits | None = None
) -> Image.Image:
    """The frame showing at `at_sec` (None: a tenth of the way in, past black openings), for
    thumbnails; the container seeks to the keyframe before it, so a long file costs little."""
    if limits is None:
        from embeddings.conf import embeddings_settings

        limits = embeddings_settings().video_limits
    with open_video(source) as container:
        stream = _video_stream(container, limits=limits)
        duration = declared_duration_sec(container) or 0.0
        target = duration / 10 if at_sec is None else max(at_sec, 0.0)
        origin = _origin(container)
        with refused(lambda error: f"could not decode the video: {error}"):
            if target > 0:
                container.seek(
                    int((target + origin) / _time_base(stream)), stream=stream, backward=True
                )
            chosen: av.VideoFrame | None = None
            for count, frame in enumerate(container.decode(stream)):
                _check_frame_size(frame.width, frame.height, limits=limits)
                time = (
                    float(frame.pts * frame.time_base) - origin
                    if frame.pts is not None and frame.time_base is not None
                    else 0
                )
                if chosen is not None and time > target + TIME_TOLERANCE_SEC:
                    break
                chosen = frame
                # Past a missing keyframe, a frame rate's worth of frames is enough looking.
                if count >= _SEEK_FRAMES:
                    break
    if chosen is None:
        raise InputError("no frame of the video could be decoded.")
    image: Image.Image = chosen.to_image()  # type: ignore[no-untyped-call]
    return image


_SEEK_FRAMES = 600
