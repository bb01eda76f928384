from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from embeddings.errors import InputError
from embeddings.media.audio import AudioClip, decode_audio, segment_lengths, split_clip
from tests.media_factory import AUDIO_FORMATS, make_audio, make_image

RATE = 16000


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.argmax(spectrum) * rate / len(samples))


def decode(data: bytes, **options: float) -> AudioClip:
    return decode_audio(
        data, sampling_rate=RATE, max_duration_sec=options.pop("max_duration_sec", 600), **options
    )


@pytest.mark.parametrize("fmt", sorted(AUDIO_FORMATS))
def test_decode_audio_every_format_gives_mono_float32_at_the_model_rate(fmt: str) -> None:
    clip = decode(make_audio(fmt, seconds=3.0, channels=2, frequency=440.0))

    assert clip.samples.dtype == np.float32
    assert clip.samples.ndim == 1
    assert clip.sampling_rate == RATE
    assert clip.duration_sec == pytest.approx(3.0, abs=0.1)
    assert dominant_frequency(clip.samples, RATE) == pytest.approx(440.0, abs=5.0)


@pytest.mark.parametrize("source_rate", [8000, 22050, 48000])
def test_decode_audio_resamples(source_rate: int) -> None:
    clip = decode(
        make_audio("wav", seconds=2.0, sampling_rate=source_rate, channels=1, frequency=1000.0)
    )

    assert clip.duration_sec == pytest.approx(2.0, abs=0.01)
    assert dominant_frequency(clip.samples, RATE) == pytest.approx(1000.0, abs=5.0)


def stereo_wav(left: np.ndarray, right: np.ndarray, rate: int = RATE) -> bytes:
    interleaved = np.stack([left, right], axis=1).reshape(-1)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(2)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes((interleaved * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def test_decode_audio_downmixes_stereo_to_mono() -> None:
    t = np.arange(RATE) / RATE
    left = 0.5 * np.sin(2 * np.pi * 300 * t)

    clip = decode(stereo_wav(left, np.zeros_like(left)))

    # Each channel counts once: a tone in one channel only is still clearly present.
    assert 0.15 < np.abs(clip.samples).max() < 0.55
    assert dominant_frequency(clip.samples, RATE) == pytest.approx(300.0, abs=2.0)


def test_decode_audio_start_offset_skips_the_start() -> None:
    clip = decode(make_audio("flac", seconds=3.0), start_offset_sec=1.0)

    assert clip.start_sec == 1.0
    assert clip.duration_sec == pytest.approx(2.0, abs=0.05)
    assert clip.end_sec == pytest.approx(3.0, abs=0.05)


def test_decode_audio_offset_beyond_the_end() -> None:
    with pytest.raises(
        InputError, match=r"audio_start_offset_sec \(5\) is beyond the end of the audio \(2\.0"
    ):
        decode(make_audio("wav", seconds=2.0), start_offset_sec=5.0)


def test_decode_audio_longer_than_the_limit() -> None:
    with pytest.raises(InputError, match="longer than the limit of 2 s"):
        decode(make_audio("mp3", seconds=5.0), max_duration_sec=2.0)


def test_decode_audio_limit_counts_from_the_offset() -> None:
    clip = decode(make_audio("wav", seconds=5.0), start_offset_sec=3.5, max_duration_sec=2.0)

    assert clip.duration_sec == pytest.approx(1.5, abs=0.01)


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00" * 1000, bytes(range(256)) * 50, b"just some text, not audio\n" * 40],
    ids=["empty", "zeros", "noise", "text"],
)
def test_decode_audio_refuses_what_is_not_audio(data: bytes) -> None:
    with pytest.raises(InputError):
        decode(data)


def test_decode_audio_refuses_an_image() -> None:
    with pytest.raises(InputError):
        decode(make_image("png"))


def test_decode_audio_refuses_nan_samples() -> None:
    samples = np.zeros(RATE, dtype="<f4")
    samples[100] = np.nan
    buffer = io.BytesIO()
    # A 32-bit float WAV written by hand: the wave module only writes integer PCM.
    data = samples.tobytes()
    header = b"RIFF" + (36 + len(data)).to_bytes(4, "little") + b"WAVEfmt "
    header += (16).to_bytes(4, "little") + (3).to_bytes(2, "little") + (1).to_bytes(2, "little")
    header += RATE.to_bytes(4, "little") + (RATE * 4).to_bytes(4, "little")
    header += (4).to_bytes(2, "little") + (32).to_bytes(2, "little")
    buffer.write(header + b"data" + len(data).to_bytes(4, "little") + data)

    with pytest.raises(InputError, match="NaN"):
        decode(buffer.getvalue())


@pytest.mark.parametrize(
    ("duration", "count", "length"),
    [
        (50, 5, 10.0),
        (16, 2, 8.0),
        (14, 2, 7.0),
        (12, 1, 12.0),
        (5, 1, 5.0),
        (25, 3, 25 / 3),
        (10, 1, 10.0),
    ],
)
def test_segment_lengths_are_equal_and_closest_to_ten_seconds(
    duration: float, count: int, length: float
) -> None:
    lengths = segment_lengths(duration)

    assert len(lengths) == count
    assert lengths == pytest.approx([length] * count)


def test_segment_lengths_with_another_target() -> None:
    assert segment_lengths(30, target_sec=6.0) == pytest.approx([6.0] * 5)
    assert segment_lengths(0) == []


def test_split_clip_covers_every_sample_once_with_absolute_offsets() -> None:
    samples = np.arange(16 * RATE + 7, dtype=np.float32)
    clip = AudioClip(samples, RATE, start_sec=4.0)

    segments = split_clip(clip)

    assert len(segments) == 2
    assert segments[0].start_sec == 4.0
    assert segments[0].end_sec == segments[1].start_sec
    assert segments[-1].end_sec == pytest.approx(clip.end_sec)
    np.testing.assert_array_equal(np.concatenate([s.samples for s in segments]), samples)
