from __future__ import annotations

import itertools
import random
import tracemalloc
import wave
from fractions import Fraction
from io import BytesIO

import av
import numpy as np
import pytest

from bench.media_factory import AUDIO_FORMATS, encode_audio, make_audio, make_image, sine
from embeddings.errors import InputError
from embeddings.media.audio import AudioClip, check_audio, segment_lengths, split_clip

RATE = 16000


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.argmax(spectrum) * rate / len(samples))


def decode(data: bytes, **options: float) -> AudioClip:
    return check_audio(
        data, sampling_rate=RATE, max_duration_sec=options.pop("max_duration_sec", 600), **options
    )


def samples_of(clip: AudioClip) -> np.ndarray:
    return np.concatenate([segment.samples for segment in split_clip(clip)])


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
def test_check_audio_offset_at_or_beyond_the_end(offset: float) -> None:
    with pytest.raises(
        InputError,
        match=rf"^audio_start_offset_sec \({offset}\) is beyond the end of the audio \(2\.0 s\)",
    ):
        decode(make_audio("wav", seconds=2.0), start_offset_sec=offset)


@pytest.mark.parametrize("offset", [-1.0, float("nan"), float("inf")])
def test_check_audio_refuses_an_offset_that_is_not_a_time(offset: float) -> None:
    with pytest.raises(InputError, match="must be a number of seconds"):
        decode(make_audio("wav", seconds=1.0), start_offset_sec=offset)


def test_check_audio_longer_than_the_limit() -> None:
    with pytest.raises(
        InputError, match=r"^the audio after the offset is longer than the limit of 2 s"
    ):
        decode(make_audio("mp3", seconds=5.0), max_duration_sec=2.0)


def test_check_audio_limit_counts_from_the_offset() -> None:
    clip = decode(make_audio("wav", seconds=5.0), start_offset_sec=3.5, max_duration_sec=2.0)

    assert clip.duration_sec == pytest.approx(1.5, abs=0.001)


def test_check_audio_exactly_at_the_limit() -> None:
    assert decode(make_audio("wav", seconds=2.0), max_duration_sec=2.0).duration_sec == 2.0


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
    clip = decode(make_audio("flac", seconds=600.0, channels=1))
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
    # Decoded whole, the clip would hold 60 segments' worth; streamed, a few at most (the
    # one taken, the one being joined from decoded chunks, and the chunks themselves).
    assert held_at_first < 3 * segment_bytes
    assert peak < 6 * segment_bytes
