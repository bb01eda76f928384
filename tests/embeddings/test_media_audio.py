from __future__ import annotations

import itertools
import random
import sys
import tracemalloc
import wave
from dataclasses import replace
from fractions import Fraction
from functools import cache
from io import BytesIO

import av
import numpy as np
import pytest

from bench.media_factory import (
    AUDIO_FORMATS,
    encode_audio,
    make_audio,
    make_image,
    matroska_pcm,
    sine,
    wav_declaring,
)
from embeddings.conf import AudioLimits
from embeddings.errors import InputError
from embeddings.media.audio import (
    MAX_FRAME_SAMPLES,
    AudioClip,
    BeyondLimit,
    check_audio,
    segment_lengths,
    split_clip,
)
from tests.conftest import Resampled

RATE = 16000


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.argmax(spectrum) * rate / len(samples))


LIMITS = AudioLimits(
    min_sample_rate=1000,
    max_sample_rate=384_000,
    max_channels=32,
    min_duration_sec=0.1,
    max_duration_sec=600,
)


def decode(
    data: bytes,
    *,
    start_offset_sec: float = 0.0,
    beyond_limit: BeyondLimit = "refuse",
    **limits: float,
) -> AudioClip:
    return check_audio(
        data,
        sampling_rate=RATE,
        limits=replace(LIMITS, **limits),
        start_offset_sec=start_offset_sec,
        beyond_limit=beyond_limit,
    )


def samples_of(clip: AudioClip) -> np.ndarray:
    return np.concatenate([segment.samples for segment in split_clip(clip)])


@cache
def silence_flac(*, seconds: float) -> bytes:
    return encode_audio(np.zeros((1, int(seconds * RATE)), np.float32), "flac", sampling_rate=RATE)


@pytest.mark.parametrize("fmt", sorted(AUDIO_FORMATS))
def test_check_audio_every_format_gives_mono_float32_at_the_model_rate(fmt: str) -> None:
    clip = decode(make_audio(fmt, seconds=3.0, channels=2, frequency=440.0))
    samples = samples_of(clip)

    assert samples.dtype == np.float32
    assert samples.ndim == 1
    assert len(samples) == clip.length
    assert clip.sampling_rate == RATE
    assert clip.start_sec == 0.0
    assert clip.duration_sec == pytest.approx(3.0, abs=0.1)
    assert dominant_frequency(samples, RATE) == pytest.approx(440.0, abs=5.0)


@pytest.mark.parametrize("codec", ["pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le"])
def test_check_audio_every_wav_sample_type(codec: str) -> None:
    clip = decode(make_audio("wav", seconds=1.0, channels=1, frequency=440.0, codec=codec))

    assert clip.duration_sec == pytest.approx(1.0, abs=0.001)
    samples = samples_of(clip)
    assert np.abs(samples).max() == pytest.approx(0.4, abs=0.02)
    assert dominant_frequency(samples, RATE) == pytest.approx(440.0, abs=2.0)


@pytest.mark.parametrize("source_rate", [8000, 22050, 48000])
def test_check_audio_resamples(source_rate: int) -> None:
    clip = decode(
        make_audio("wav", seconds=2.0, sampling_rate=source_rate, channels=1, frequency=1000.0)
    )

    assert clip.duration_sec == pytest.approx(2.0, abs=0.01)
    assert dominant_frequency(samples_of(clip), RATE) == pytest.approx(1000.0, abs=2.0)


def test_check_audio_downmixes_stereo_to_mono() -> None:
    left = sine(1.0, sampling_rate=RATE, frequency=300.0)[0]

    clip = decode(encode_audio(np.stack([left, np.zeros_like(left)]), "wav", sampling_rate=RATE))

    # Each channel counts once: a tone in one channel only is still clearly present.
    samples = samples_of(clip)
    assert 0.1 < np.abs(samples).max() < 0.4
    assert dominant_frequency(samples, RATE) == pytest.approx(300.0, abs=2.0)


def test_check_audio_downmixes_surround_to_mono() -> None:
    clip = decode(make_audio("flac", seconds=1.0, channels=6, frequency=500.0))

    samples = samples_of(clip)
    assert samples.ndim == 1
    assert clip.duration_sec == pytest.approx(1.0, abs=0.01)
    assert dominant_frequency(samples, RATE) == pytest.approx(500.0, abs=2.0)


@pytest.mark.parametrize("channels", [9, 13, 32])
def test_check_audio_downmixes_channels_without_positions(channels: int) -> None:
    # A WAV without a channel mask gives FFmpeg no speaker positions to mix down from.
    tone = sine(1.0, sampling_rate=RATE, frequency=300.0)[0]
    interleaved = np.zeros((len(tone), channels), dtype="<i2")
    interleaved[:, 0] = np.round(tone * 32767)
    data = BytesIO()
    with wave.open(data, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(RATE)
        writer.writeframes(interleaved.tobytes())

    samples = samples_of(decode(data.getvalue()))

    # Every channel counts the same: the one tone among `channels` keeps 1/channels of it.
    assert np.abs(samples).max() == pytest.approx(np.abs(tone).max() / channels, rel=0.05)
    assert dominant_frequency(samples, RATE) == pytest.approx(300.0, abs=2.0)


def two_tones(first: float, second: float, *, seconds: float) -> bytes:
    signal = np.concatenate(
        [
            sine(seconds, sampling_rate=RATE, frequency=first),
            sine(seconds, sampling_rate=RATE, frequency=second),
        ],
        axis=1,
    )
    return encode_audio(signal, "flac", sampling_rate=RATE)


def test_check_audio_start_offset_skips_the_start() -> None:
    clip = decode(two_tones(300.0, 1000.0, seconds=1.5), start_offset_sec=1.5)

    assert clip.start_sec == 1.5
    assert clip.duration_sec == pytest.approx(1.5, abs=0.001)
    assert clip.end_sec == pytest.approx(3.0, abs=0.001)
    assert dominant_frequency(samples_of(clip), RATE) == pytest.approx(1000.0, abs=2.0)


def test_check_audio_start_offset_in_a_compressed_file() -> None:
    clip = decode(make_audio("mp3", seconds=3.0), start_offset_sec=1.0)

    assert clip.start_sec == 1.0
    assert clip.duration_sec == pytest.approx(2.0, abs=0.1)


@pytest.mark.parametrize("offset", [2.0, 5.0])
def test_check_audio_offset_at_or_beyond_the_end(offset: float, resampled: Resampled) -> None:
    with pytest.raises(
        InputError,
        match=rf"^audio_start_offset_sec \({offset}\) is beyond the end of the audio \(2\.0 s\)",
    ):
        decode(make_audio("wav", seconds=2.0), start_offset_sec=offset)

    # The header's duration tells, so nothing was decoded to find out.
    assert resampled.frames == []


@pytest.mark.parametrize("offset", [-1.0, float("nan"), float("inf")])
def test_check_audio_refuses_an_offset_that_is_not_a_time(offset: float) -> None:
    with pytest.raises(InputError, match="must be a number of seconds"):
        decode(make_audio("wav", seconds=1.0), start_offset_sec=offset)


@pytest.mark.parametrize("offset", [600.0, 599.95, 1e12, 1e304, sys.float_info.max])
def test_check_audio_refuses_an_offset_past_the_limit_without_decoding(
    offset: float, resampled: Resampled
) -> None:
    # Silence compresses to almost nothing: ~1 MB of FLAC decodes for an hour.
    data = silence_flac(seconds=700.0)

    with pytest.raises(InputError, match=r"is beyond the longest audio accepted \(600 s\)"):
        decode(data, start_offset_sec=offset)

    assert resampled.frames == []


def test_check_audio_longer_than_the_limit(resampled: Resampled) -> None:
    with pytest.raises(InputError, match=r"^the audio is longer than the limit of 2 s"):
        decode(make_audio("mp3", seconds=5.0), max_duration_sec=2.0)

    assert resampled.seconds < 2.1


def test_check_audio_limit_counts_from_the_files_start(resampled: Resampled) -> None:
    data = silence_flac(seconds=700.0)

    with pytest.raises(InputError, match=r"^the audio is longer than the limit of 600 s"):
        decode(data, start_offset_sec=599.0)

    # Decoding stopped at the limit, not at the file's end or the offset plus the limit.
    assert 600 <= resampled.seconds < 601


def test_check_audio_exactly_at_the_limit() -> None:
    assert decode(make_audio("wav", seconds=2.0), max_duration_sec=2.0).duration_sec == 2.0


def test_check_audio_cut_keeps_the_start_and_decodes_no_further(resampled: Resampled) -> None:
    clip = decode(silence_flac(seconds=700.0), max_duration_sec=30.0, beyond_limit="cut")

    assert clip.cut
    assert clip.duration_sec == 30.0
    assert resampled.seconds < 31
    assert len(samples_of(clip)) == 30 * RATE


def test_check_audio_cut_of_a_clip_within_the_limit_keeps_it_whole() -> None:
    clip = decode(make_audio("wav", seconds=2.0), max_duration_sec=30.0, beyond_limit="cut")

    assert not clip.cut
    assert clip.duration_sec == 2.0


@pytest.mark.parametrize("seconds", [0.001, 0.005, 0.0099, 0.099])
def test_check_audio_refuses_a_clip_shorter_than_the_minimum(seconds: float) -> None:
    data = encode_audio(sine(seconds, sampling_rate=RATE), "wav", sampling_rate=RATE)

    with pytest.raises(
        InputError, match=r"^the audio is 0\.\d+ s long; the shortest accepted is 0\.1 s"
    ):
        decode(data)


def test_check_audio_refuses_an_offset_that_leaves_less_than_the_minimum() -> None:
    with pytest.raises(InputError, match=r"^the audio after the offset is 0\.05 s long"):
        decode(make_audio("wav", seconds=1.0, sampling_rate=RATE), start_offset_sec=0.95)


def test_check_audio_the_minimum_itself_is_accepted() -> None:
    data = encode_audio(sine(0.1, sampling_rate=RATE), "wav", sampling_rate=RATE)

    assert decode(data).duration_sec == 0.1


@pytest.mark.parametrize("rate", [1, 999, 384_001, 1_610_612_736, 1_234_567_890, 2**31 - 1])
def test_check_audio_refuses_a_sample_rate_outside_the_range_before_decoding(
    rate: int, resampled: Resampled
) -> None:
    with pytest.raises(
        InputError,
        match=rf"sample rate \({rate} Hz\) is outside the accepted range, 1000 to 384000 Hz",
    ):
        decode(wav_declaring(sample_rate=rate, channels=1, frames=10_000))

    assert resampled.frames == []


@pytest.mark.parametrize("rate", [1000, 384_000])
def test_check_audio_accepts_the_ends_of_the_sample_rate_range(rate: int) -> None:
    clip = decode(wav_declaring(sample_rate=rate, channels=2, frames=rate))

    assert clip.duration_sec == pytest.approx(1.0, abs=0.001)


@pytest.mark.parametrize("channels", [0, 33, 64, 65_535])
def test_check_audio_refuses_a_channel_count_outside_the_range_before_decoding(
    channels: int, resampled: Resampled
) -> None:
    with pytest.raises(InputError, match=r"channels; 1 to 32 are accepted"):
        decode(wav_declaring(sample_rate=RATE, channels=channels, frames=10))

    assert resampled.frames == []


@pytest.mark.parametrize(
    ("declared_rate", "declared_channels"),
    [(1.6e9, None), (400_000.0, None), (500.0, None), (None, 200)],
    ids=["1.6GHz", "400kHz", "500Hz", "200-channels"],
)
def test_check_audio_refuses_what_a_matroska_header_claims_before_decoding(
    declared_rate: float | None, declared_channels: int | None, resampled: Resampled
) -> None:
    data = matroska_pcm(
        sine(1.0, sampling_rate=RATE),
        sampling_rate=RATE,
        declared_rate=declared_rate,
        declared_channels=declared_channels,
    )

    with pytest.raises(InputError):
        decode(data)

    assert resampled.frames == []


def chained_ogg(*links: tuple[int, int]) -> bytes:
    """Ogg Vorbis streams one after another, each 1 s at (sample rate, channels)."""
    return b"".join(
        encode_audio(sine(1.0, sampling_rate=rate, channels=channels), "ogg", sampling_rate=rate)
        for rate, channels in links
    )


def test_check_audio_follows_a_chained_ogg_changing_rate_and_channels() -> None:
    clip = decode(chained_ogg((44100, 1), (22050, 2)))

    assert clip.duration_sec == pytest.approx(2.0, abs=0.05)


@pytest.mark.parametrize(
    ("links", "limits"),
    [
        (((22050, 1), (44100, 1)), {"max_sample_rate": 32000}),
        (((44100, 1), (44100, 6)), {"max_channels": 2}),
    ],
    ids=["rate", "channels"],
)
def test_check_audio_checks_every_frame_not_only_the_header(
    links: tuple[tuple[int, int], ...], limits: dict[str, int], resampled: Resampled
) -> None:
    with pytest.raises(InputError, match=r"sample rate|channels"):
        decode(chained_ogg(*links), **limits)

    # The first link was decoded; no frame of the second reached a resampler.
    assert resampled.frames
    assert {frame[:2] for frame in resampled.frames} == {links[0]}


def test_check_audio_resamples_a_huge_frame_piece_by_piece(resampled: Resampled) -> None:
    # One 20 MB block of 16-bit PCM at 1 kHz: 10 000 s; resampled whole it took 4 GB.
    data = matroska_pcm(np.zeros((1, 10_000_000), np.float32), sampling_rate=1000)

    with pytest.raises(InputError, match="longer than the limit of 600 s"):
        decode(data)

    assert max(samples for _, _, samples in resampled.frames) <= MAX_FRAME_SAMPLES
    assert resampled.seconds < 600 + MAX_FRAME_SAMPLES / 1000


def test_check_audio_a_huge_frame_within_the_limit_decodes_whole() -> None:
    signal = sine(200.0, sampling_rate=8000, frequency=440.0)

    clip = decode(matroska_pcm(signal, sampling_rate=8000))

    assert clip.duration_sec == pytest.approx(200.0, abs=0.01)
    samples = samples_of(clip)
    assert len(samples) == clip.length
    assert dominant_frequency(samples[: 10 * RATE], RATE) == pytest.approx(440.0, abs=1.0)


def test_check_audio_an_ffmpeg_memory_error_is_an_input_error() -> None:
    # With the rate check opened up, FFmpeg cannot build a resampler for this rate.
    data = wav_declaring(sample_rate=1_234_567_890, channels=1, frames=10_000)

    with pytest.raises(InputError, match="could not decode the audio"):
        decode(data, max_sample_rate=2**32)


def test_check_audio_refuses_an_empty_file() -> None:
    with pytest.raises(InputError, match="the audio file is empty"):
        decode(b"")


@pytest.mark.parametrize(
    "data",
    [
        b"\x00" * 1000,
        random.Random(0).randbytes(5000),
        b"just some text, not audio\n" * 40,
        make_image("png"),
        make_image("jpeg"),
        b"#EXTM3U\n#EXTINF:10,\nfile:///etc/hostname\n#EXT-X-ENDLIST\n",
        b"ffconcat version 1.0\nfile /etc/hostname\n",
    ],
    ids=["zeros", "noise", "text", "png", "jpeg", "playlist", "concat-script"],
)
def test_check_audio_refuses_what_is_not_audio(data: bytes) -> None:
    with pytest.raises(InputError, match=r"^unsupported audio format.*supported formats: WAV"):
        decode(data)


def video_without_sound() -> bytes:
    buffer = BytesIO()
    with av.open(buffer, mode="w", format="matroska") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for index in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 10)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def test_check_audio_refuses_a_video_without_sound() -> None:
    with pytest.raises(InputError, match="the file has no audio stream"):
        decode(video_without_sound())


def test_check_audio_refuses_a_codec_it_cannot_decode() -> None:
    data = make_audio("webm", seconds=1.0).replace(b"A_OPUS", b"A_XXXX")

    with pytest.raises(InputError, match="unsupported audio codec"):
        decode(data)


@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_check_audio_refuses_a_truncated_file(fmt: str) -> None:
    data = make_audio(fmt, seconds=1.0)

    with pytest.raises(InputError, match="could not decode the audio"):
        decode(data[: len(data) // 2 + 1])


def wav_header_only() -> bytes:
    buffer = BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(RATE)
    return buffer.getvalue()


@pytest.mark.parametrize("data", [wav_header_only(), make_audio("flac", seconds=0.0)])
def test_check_audio_refuses_a_header_without_samples(data: bytes) -> None:
    with pytest.raises(InputError, match="the audio file contains no samples"):
        decode(data)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_check_audio_refuses_invalid_float_samples(value: float) -> None:
    signal = sine(1.0, sampling_rate=RATE)
    signal[0, 100] = value
    data = encode_audio(signal, "wav", sampling_rate=RATE, codec="pcm_f32le")

    with pytest.raises(InputError, match=r"invalid \(NaN or infinite\) samples"):
        decode(data)


@pytest.mark.parametrize(
    ("duration", "count", "length"),
    [
        (50, 5, 10.0),
        (16, 2, 8.0),
        (14, 2, 7.0),
        (15, 2, 7.5),
        (12, 1, 12.0),
        (10, 1, 10.0),
        (5, 1, 5.0),
        (0.2, 1, 0.2),
        (25, 3, 25 / 3),
        (600, 60, 10.0),
    ],
)
def test_segment_lengths_are_equal_and_closest_to_ten_seconds(
    duration: float, count: int, length: float
) -> None:
    lengths = segment_lengths(duration)

    assert len(lengths) == count
    assert lengths == pytest.approx([length] * count)


@pytest.mark.parametrize("duration", [0.0, -1.0])
def test_segment_lengths_of_nothing(duration: float) -> None:
    assert segment_lengths(duration) == []


def test_segment_lengths_with_another_target() -> None:
    assert segment_lengths(30, target_sec=6.0) == pytest.approx([6.0] * 5)
    assert segment_lengths(0.3, target_sec=0.1) == pytest.approx([0.1] * 3)


def test_segment_lengths_tie_goes_to_the_longer_parts() -> None:
    assert segment_lengths(4, target_sec=3.0) == [4.0]  # 1 x 4 and 2 x 2 are both 1 s off
    assert segment_lengths(12, target_sec=5.0) == [6.0, 6.0]  # 2 x 6 and 3 x 4 are both 1 s off


def counting_wav(count: int) -> bytes:
    """Float samples 0, 1, 2, ...: each sample says where it came from."""
    signal = np.arange(count, dtype=np.float32)[np.newaxis]
    return encode_audio(signal, "wav", sampling_rate=RATE, codec="pcm_f32le")


@pytest.mark.parametrize(("seconds", "count"), [(16.0, 2), (25.0, 3), (4.0, 1)])
def test_split_clip_covers_every_sample_once_with_absolute_offsets(
    seconds: float, count: int
) -> None:
    total = int((4.0 + seconds) * RATE) + 7
    clip = decode(counting_wav(total), start_offset_sec=4.0)

    segments = list(split_clip(clip))

    assert len(segments) == count
    assert segments[0].start_sec == 4.0
    assert segments[-1].end_sec == clip.end_sec == total / RATE
    for before, after in itertools.pairwise(segments):
        assert before.end_sec == after.start_sec
    for segment in segments:
        assert segment.samples[0] == segment.start_sec * RATE
        assert len(segment.samples) == pytest.approx((total - 4 * RATE) / count, abs=1)
    np.testing.assert_array_equal(
        np.concatenate([s.samples for s in segments]), np.arange(4 * RATE, total)
    )


def test_split_clip_after_a_decoded_offset() -> None:
    clip = decode(make_audio("wav", seconds=20.0, channels=1), start_offset_sec=3.0)

    segments = split_clip(clip)

    assert [(s.start_sec, s.end_sec) for s in segments] == [(3.0, 11.5), (11.5, 20.0)]


def test_split_clip_decodes_one_segment_at_a_time() -> None:
    clip = decode(make_audio("flac", seconds=300.0, channels=1))
    segments = split_clip(clip)

    tracemalloc.start()
    try:
        first = next(segments)
        held_at_first, _ = tracemalloc.get_traced_memory()
        for _ in segments:
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    segment_bytes = first.samples.nbytes
    assert segment_bytes == 10 * RATE * 4
    # Decoded whole, the clip would hold 30 segments' worth; streamed, a few at most (the
    # one taken, the one being joined from decoded chunks, and the chunks themselves).
    assert held_at_first < 3 * segment_bytes
    assert peak < 6 * segment_bytes
