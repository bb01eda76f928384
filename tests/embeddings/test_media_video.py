from __future__ import annotations

import io
from dataclasses import replace
from fractions import Fraction
from functools import cache
from pathlib import Path

import av
import numpy as np
import pytest

from bench.media_factory import make_audio, make_image
from bench.video_factory import COLOURS, VIDEO_FORMATS, colour_at, encodable, make_video, tone
from embeddings.conf import AudioLimits, VideoLimits
from embeddings.errors import InputError
from embeddings.media.video import VideoClip, check_video, poster_frame, split_video

RATE = 16000
LIMITS = VideoLimits(
    max_bytes=10 * 1024 * 1024,
    max_duration_sec=60.0,
    max_frame_pixels=640 * 480,
    max_frame_rate=60.0,
    max_frames_per_clip=32,
    audio=AudioLimits(
        min_sample_rate=1000,
        max_sample_rate=96_000,
        max_channels=8,
        min_duration_sec=0.1,
        max_duration_sec=60.0,
    ),
)


FORMATS = [
    pytest.param(fmt, marks=pytest.mark.skipif(not encodable(fmt), reason=f"no {fmt} encoder"))
    for fmt in VIDEO_FORMATS
]


@cache
def video(fmt: str = "mp4", **options: object) -> bytes:
    return make_video(fmt, **options)  # type: ignore[arg-type]


def clips(
    data: bytes | Path, *, clip_sec: float = 2.0, fps: float = 1.0, **offsets: float
) -> list[VideoClip]:
    checked = check_video(data, limits=LIMITS, sampling_rate=RATE, **offsets)
    return list(split_video(checked, clip_sec=clip_sec, fps=fps, sampling_rate=RATE))


def colours(clip: VideoClip) -> list[tuple[int, ...]]:
    """The colour of each frame, as the nearest of the known colours (codecs shift them)."""
    palette = np.array(COLOURS)
    centres = clip.frames[:, clip.frames.shape[1] // 2, clip.frames.shape[2] // 2].astype(int)
    nearest = np.abs(centres[:, None, :] - palette[None, :, :]).sum(axis=2).argmin(axis=1)
    return [COLOURS[index] for index in nearest]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_container_and_codec_decodes_to_clips_holding_the_colours_of_their_time(
    fmt: str,
) -> None:
    data = video(fmt, seconds=5.0, fps=10, colour_sec=1.0)

    decoded = clips(data, clip_sec=2.0, fps=1.0)

    assert [(clip.start_sec, round(clip.end_sec, 1)) for clip in decoded] == [
        (0.0, 2.0),
        (2.0, 4.0),
        (4.0, 5.0),
    ]
    assert [clip.frame_times for clip in decoded] == [(0.0, 1.0), (2.0, 3.0), (4.0,)]
    for clip in decoded:
        assert colours(clip) == [colour_at(time, colour_sec=1.0) for time in clip.frame_times]
        assert clip.audio is not None and clip.audio.dtype == np.float32
        assert len(clip.audio) == round(clip.duration_sec * RATE)


def test_the_audio_of_each_clip_is_the_tone_of_its_time() -> None:
    data = video("mp4", seconds=4.0, fps=10, colour_sec=2.0)

    first, second = clips(data, clip_sec=2.0)

    def pitch(samples: np.ndarray) -> float:
        middle = samples[RATE // 2 : RATE // 2 + RATE]
        spectrum = np.abs(np.fft.rfft(middle))
        return float(np.argmax(spectrum))  # 1 s of samples: bins are hertz

    assert first.audio is not None and second.audio is not None
    assert pitch(first.audio) == pytest.approx(220, abs=3)
    assert pitch(second.audio) == pytest.approx(440, abs=3)
    expected = tone(2.0, colour_sec=2.0, sampling_rate=RATE)
    assert np.corrcoef(first.audio[RATE // 4 : RATE], expected[RATE // 4 : RATE])[0, 1] > 0.9


def test_audio_that_starts_late_is_silence_until_it_starts() -> None:
    data = make_video("mkv", seconds=4.0, colour_sec=4.0, audio_offset_sec=1.0)

    first, second = clips(data, clip_sec=2.0)

    assert first.audio is not None and second.audio is not None
    assert np.abs(first.audio[: RATE * 9 // 10]).max() < 0.01
    assert np.abs(first.audio[RATE * 11 // 10 :]).max() > 0.2
    assert np.abs(second.audio).max() > 0.2


def test_audio_stamped_past_the_video_is_silence() -> None:
    data = make_video("mkv", seconds=3.0, audio_offset_sec=200.0)

    decoded = clips(data, clip_sec=2.0)

    assert [len(clip.audio) for clip in decoded if clip.audio is not None] == [2 * RATE, RATE]
    assert all(clip.audio is not None and not clip.audio.any() for clip in decoded)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("seed", range(3))
def test_damaged_files_decode_or_are_refused_with_a_message(fmt: str, seed: int) -> None:
    data = bytearray(video(fmt, seconds=3.0))
    rng = np.random.default_rng(seed)
    for position in rng.integers(len(data) // 10, len(data), size=20):
        data[position] = int(rng.integers(0, 256))

    try:
        decoded = clips(bytes(data))
    except InputError as error:
        assert str(error)
    else:
        assert all(clip.frames.ndim == 4 for clip in decoded)


def test_offsets_choose_the_part_embedded_and_clips_count_from_the_start_offset() -> None:
    data = video("webm-vp9", seconds=8.0, fps=10, colour_sec=1.0)

    decoded = clips(data, clip_sec=2.0, start_sec=1.5, end_sec=6.0)

    assert [(clip.start_sec, clip.end_sec) for clip in decoded] == [
        (1.5, 3.5),
        (3.5, 5.5),
        (5.5, 6.0),
    ]
    assert decoded[0].frame_times == (1.5, 2.5)
    assert colours(decoded[0]) == [colour_at(1.5, colour_sec=1.0), colour_at(2.5, colour_sec=1.0)]
    assert decoded[-1].frame_times == (5.5,)


@pytest.mark.parametrize("fmt", ["mp4", "webm-vp8", "mkv"])
def test_a_start_offset_gives_the_clips_decoding_from_the_start_gives(fmt: str) -> None:
    # Keyframes every 12 frames, so the decoder seeks to one before the offset and decodes on.
    data = make_video(fmt, seconds=8.0, fps=10, colour_sec=0.5, keyframe_interval=12)

    whole = clips(data, clip_sec=2.0, fps=2.0)
    later = clips(data, clip_sec=2.0, fps=2.0, start_sec=4.0)

    assert [clip.frame_times for clip in later] == [clip.frame_times for clip in whole[2:]]
    for sought, decoded in zip(later, whole[2:], strict=True):
        assert np.array_equal(sought.frames, decoded.frames)
        assert sought.audio is not None and decoded.audio is not None
        # The audio decoder starts afresh after a seek: its first few milliseconds differ, and
        # codecs with a start delay (Opus, Vorbis) can place the track up to 1 ms apart.
        middle = slice(RATE // 10, RATE)
        correlations = [
            np.corrcoef(sought.audio[middle], np.roll(decoded.audio, -lag)[middle])[0, 1]
            for lag in range(-RATE // 1000, RATE // 1000 + 1)
        ]
        assert max(correlations) > 0.98


def test_an_end_a_muxer_rounded_past_the_last_whole_clip_joins_that_clip() -> None:
    # Matroska with Vorbis shifts the video by the audio's delay: 3 ms past 4 s.
    data = video("mkv", seconds=4.0)

    decoded = clips(data, clip_sec=2.0)

    assert [(clip.start_sec, round(clip.end_sec, 3)) for clip in decoded] == [
        (0.0, 2.0),
        (2.0, 4.003),
    ]


def test_a_file_on_disk_decodes_like_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "clip.mkv"
    data = make_video("mkv", seconds=3.0, colour_sec=1.0, path=path)

    from_disk, from_bytes = clips(path), clips(data)

    assert [clip.frame_times for clip in from_disk] == [clip.frame_times for clip in from_bytes]
    for on_disk, in_memory in zip(from_disk, from_bytes, strict=True):
        assert np.array_equal(on_disk.frames, in_memory.frames)


def test_a_file_without_audio_has_clips_without_audio() -> None:
    data = video("mp4", seconds=3.0, audio=False)

    checked = check_video(data, limits=LIMITS, sampling_rate=RATE)

    assert not checked.has_audio
    assert all(clip.audio is None for clip in clips(data))


def test_more_frames_than_a_clip_takes_are_spread_evenly_over_it() -> None:
    data = video("mp4", seconds=4.0, fps=20)
    limits = replace(LIMITS, max_frames_per_clip=4)
    checked = check_video(data, limits=limits, sampling_rate=RATE)

    (clip,) = split_video(checked, clip_sec=4.0, fps=10.0, sampling_rate=RATE)

    assert clip.frame_times == (0.0, 1.0, 2.0, 3.0)


def test_clips_are_handed_on_while_the_file_is_still_being_decoded() -> None:
    data = video("mp4", seconds=10.0, fps=10)
    checked = check_video(data, limits=LIMITS, sampling_rate=RATE)
    generator = split_video(checked, clip_sec=2.0, fps=1.0, sampling_rate=RATE)

    first = next(generator)

    # The generator holds the clip being built and the samples after it, not the file.
    frame = generator.gi_frame
    assert frame is not None
    decoder = frame.f_locals["decoder"]
    assert first.end_sec == 2.0
    assert sum(len(frames) for frames in decoder.chosen) <= 2
    assert decoder.audio_held < 3 * RATE
    generator.close()


def test_a_poster_frame_shows_the_time_asked_for() -> None:
    data = video("webm-vp8", seconds=4.0, fps=10, colour_sec=1.0)

    image = poster_frame(data, at_sec=2.5, limits=LIMITS)

    pixel = np.array(image.getpixel((image.width // 2, image.height // 2)))
    assert np.abs(pixel - np.array(colour_at(2.5, colour_sec=1.0))).max() < 20


def test_a_poster_frame_by_default_is_a_tenth_of_the_way_in(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    make_video("mp4", seconds=10.0, fps=10, colour_sec=0.5, path=path)

    image = poster_frame(path, limits=LIMITS)

    pixel = np.array(image.getpixel((image.width // 2, image.height // 2)))
    assert np.abs(pixel - np.array(colour_at(1.0, colour_sec=0.5))).max() < 20


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"not a video at all" * 100, "unsupported video format"),
        (make_video("mp4")[:2000], "unreadable file"),
        (make_video("mp4")[:-3000], "unreadable file"),  # the index is at the end
        (make_video("webm-vp8")[:300], "unreadable file"),
    ],
)
def test_bad_files_are_refused_with_a_message(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        clips(data)


def test_a_truncated_matroska_file_embeds_the_part_that_is_there() -> None:
    whole = video("mkv", seconds=4.0)

    decoded = clips(whole[: len(whole) // 2])

    assert 1 <= len(decoded) < 2


def test_audio_only_files_are_refused() -> None:
    with pytest.raises(InputError, match="no video stream"):
        clips(make_audio("webm", seconds=1.0))


@pytest.mark.parametrize(
    ("limit", "value", "message"),
    [
        ("max_bytes", 1000, "largest accepted"),
        ("max_duration_sec", 2.0, "longer than the limit"),
        ("max_frame_pixels", 96 * 64 - 1, "pixels a frame"),
        ("max_frame_rate", 5.0, "frames a second"),
    ],
)
def test_files_past_a_limit_are_refused_before_decoding(
    limit: str, value: float, message: str
) -> None:
    limits = replace(LIMITS, **{limit: value})

    with pytest.raises(InputError, match=message):
        check_video(video("mp4", seconds=3.0, fps=10), limits=limits, sampling_rate=RATE)


def test_a_frame_past_the_pixel_limit_in_the_middle_of_a_stream_is_refused() -> None:
    # Motion JPEG frames are whole images, each with its own size, whatever the header says.
    small, big = make_image("jpeg", size=(96, 64)), make_image("jpeg", size=(1000, 1000))
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="matroska") as container:
        stream = container.add_stream("mjpeg", rate=10)
        stream.pix_fmt = "yuvj420p"
        stream.width, stream.height = 96, 64
        for index in range(30):
            packet = av.Packet(big if index == 12 else small)
            packet.stream, packet.pts, packet.dts = stream, index, index
            packet.time_base = Fraction(1, 10)
            container.mux(packet)

    with pytest.raises(InputError, match="could not decode the video"):
        clips(buffer.getvalue())


def test_a_long_file_is_accepted_for_a_part_within_the_duration_limit() -> None:
    limits = replace(LIMITS, max_duration_sec=2.0)

    checked = check_video(video("mp4", seconds=3.0), limits=limits, end_sec=2.0, sampling_rate=RATE)

    assert (checked.start_sec, checked.end_sec) == (0.0, 2.0)


def test_a_thousand_frames_a_second_are_refused_without_decoding_them() -> None:
    data = make_video("mkv", seconds=2.0, fps=1000, size=(16, 16), audio=False)

    with pytest.raises(InputError, match="frames a second"):
        check_video(data, limits=LIMITS, sampling_rate=RATE)


@pytest.mark.parametrize(
    ("offsets", "message"),
    [
        ({"start_sec": -1.0}, "0 or more"),
        ({"start_sec": float("nan")}, "0 or more"),
        ({"start_sec": 3.0}, "beyond the end of the video"),
        ({"start_sec": 1.0, "end_sec": 1.0}, "after the start offset"),
        ({"end_sec": 9.0}, "beyond the end of the video"),
        ({"end_sec": float("inf")}, "after the start offset"),
        ({"start_sec": 2.7}, "shortest accepted is 0.5 s"),
        ({"start_sec": 1.0, "end_sec": 1.2}, "shortest accepted is 0.5 s"),
    ],
)
def test_offsets_outside_the_video_are_refused(offsets: dict[str, float], message: str) -> None:
    with pytest.raises(InputError, match=message):
        check_video(video("mp4", seconds=3.0), limits=LIMITS, sampling_rate=RATE, **offsets)
