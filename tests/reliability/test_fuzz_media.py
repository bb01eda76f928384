from __future__ import annotations

import math
import sys
from functools import cache

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.media_factory import (
    flac_declaring,
    jpeg_repeating_its_last_scan,
    make_audio,
    make_image,
    matroska_pcm,
    png_declaring,
    sine,
    wav_declaring,
)
from embeddings.conf import AudioLimits
from embeddings.errors import InputError
from embeddings.media.audio import MAX_FRAME_SAMPLES, check_audio, split_clip
from embeddings.media.images import MAX_JPEG_SCANS, decode_image
from searchapp.media_info import probe_media
from tests.conftest import Resampled
from tests.reliability.corpus import (
    RATE,
    any_media,
    audio_seeds,
    float_wav,
    image_seeds,
    mutated,
    silence,
)
from tests.reliability.examples import fixed_examples

pytestmark = pytest.mark.slow

MAX_SIDE = 64
MAX_PIXELS = 1_000_000
MAX_AUDIO_SEC = 5.0
LIMITS = AudioLimits(
    min_sample_rate=1000,
    max_sample_rate=384_000,
    max_channels=32,
    min_duration_sec=0.1,
    max_duration_sec=MAX_AUDIO_SEC,
)
FUZZ = fixed_examples(max_examples=300)


def decode_image_or_refusal(data: bytes) -> str | None:
    """None for an image that is fit for the model, else the refusal's message."""
    try:
        image = decode_image(data, max_pixels=MAX_PIXELS, max_side=MAX_SIDE)
    except InputError as error:
        assert str(error)
        return str(error)
    assert image.mode == "RGB"
    assert 1 <= image.width <= MAX_SIDE and 1 <= image.height <= MAX_SIDE
    return None


def decode_audio_or_refusal(data: bytes, *, offset: float = 0.0) -> str | None:
    try:
        clip = check_audio(data, sampling_rate=RATE, limits=LIMITS, start_offset_sec=offset)
    except InputError as error:
        assert str(error)
        return str(error)
    samples = np.concatenate([segment.samples for segment in split_clip(clip)])
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert LIMITS.min_duration_sec * RATE <= len(samples) == clip.length <= MAX_AUDIO_SEC * RATE
    assert np.isfinite(samples).all()
    return None


def within_bounds(resampled: Resampled) -> bool:
    """Every frame the decoder resampled had a rate and channels within the limits, and no
    more was decoded than the limit and one frame (or piece of one) past it."""
    return (
        all(
            LIMITS.min_sample_rate <= rate <= LIMITS.max_sample_rate
            and 1 <= channels <= LIMITS.max_channels
            and samples <= MAX_FRAME_SAMPLES
            for rate, channels, samples in resampled.frames
        )
        and resampled.seconds <= MAX_AUDIO_SEC + MAX_FRAME_SAMPLES / LIMITS.min_sample_rate
    )


def refused_before_decoding(data: bytes, resampled: Resampled, *, offset: float = 0.0) -> str:
    resampled.frames.clear()
    message = decode_audio_or_refusal(data, offset=offset)
    assert message is not None
    assert resampled.frames == []
    return message


def decoded_within_bounds(data: bytes, resampled: Resampled, *, offset: float = 0.0) -> None:
    resampled.frames.clear()
    decode_audio_or_refusal(data, offset=offset)
    assert within_bounds(resampled)


@FUZZ
@given(mutated(image_seeds()))
def test_damaged_images_decode_or_are_refused_with_a_message(data: bytes) -> None:
    decode_image_or_refusal(data)


@FUZZ
@given(mutated(audio_seeds()), st.floats(min_value=0, max_value=1))
def test_damaged_audio_decodes_or_is_refused_with_a_message(data: bytes, offset: float) -> None:
    decode_audio_or_refusal(data, offset=offset)


@FUZZ
@given(any_media())
def test_any_bytes_are_either_probed_as_media_or_refused(data: bytes) -> None:
    try:
        info = probe_media(data)
    except InputError as error:
        assert str(error)
        return
    assert info.mime_type.startswith(("image/", "audio/"))


@FUZZ
@given(any_media())
def test_any_bytes_through_either_decoder_give_media_or_a_refusal(data: bytes) -> None:
    decode_image_or_refusal(data)
    decode_audio_or_refusal(data)


@pytest.mark.parametrize(
    "offset",
    [-1.0, -0.0001, math.nan, math.inf, -math.inf],
    ids=["-1", "-tiny", "nan", "inf", "-inf"],
)
def test_an_offset_that_is_not_a_time_is_refused(offset: float) -> None:
    message = decode_audio_or_refusal(audio_seeds()["wav"], offset=offset)

    assert message is not None and "audio_start_offset_sec" in message


@FUZZ
@given(st.integers(1, 2**31 - 1), st.integers(1, 2**31 - 1))
def test_a_tiny_png_declaring_any_size_is_refused_or_decoded_by_its_pixel_count(
    width: int, height: int
) -> None:
    message = decode_image_or_refusal(png_declaring(width, height))

    if width * height > MAX_PIXELS:
        assert message is not None and ("pixels" in message or "too large" in message)


def test_a_small_file_that_expands_past_the_pixel_limit_is_refused() -> None:
    data = make_image("png", size=(1500, 1000))

    assert len(data) < 100_000
    assert "1500000 pixels" in (decode_image_or_refusal(data) or "")


@pytest.mark.parametrize("fmt", ["flac", "wav"])
def test_silence_longer_than_the_limit_is_refused_and_silence_within_it_decodes(fmt: str) -> None:
    assert decode_audio_or_refusal(silence(fmt, seconds=2.0)) is None
    message = decode_audio_or_refusal(silence(fmt, seconds=MAX_AUDIO_SEC + 5))

    assert message is not None and "longer than the limit" in message


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_float_audio_with_nan_or_infinite_samples_is_refused(value: float) -> None:
    assert "NaN or infinite" in (decode_audio_or_refusal(float_wav(value)) or "")


@pytest.mark.parametrize("fmt", ["animated-gif", "animated-webp"])
def test_animated_images_give_their_first_frame(fmt: str) -> None:
    image = decode_image(image_seeds()[fmt], max_pixels=MAX_PIXELS)

    red, _, blue = image.getpixel((4, 4))
    assert red > 200 and blue < 50


@pytest.mark.parametrize("data", [b"", b"\x00"], ids=["empty", "one-byte"])
def test_zero_and_one_byte_files_are_refused_by_both_decoders(data: bytes) -> None:
    assert decode_image_or_refusal(data) is not None
    assert decode_audio_or_refusal(data) is not None


def in_range(rate: float, channels: int) -> bool:
    return LIMITS.min_sample_rate <= rate <= LIMITS.max_sample_rate and (
        1 <= channels <= LIMITS.max_channels
    )


# Half the draws near the limits, so both decoding and refusing are tried often.
RATES = st.integers(0, 2**32 - 1) | st.integers(500, 400_000)
CHANNELS = st.integers(0, 2**16 - 1) | st.integers(0, 40)


@FUZZ
@given(rate=RATES, channels=CHANNELS)
def test_a_wav_declaring_any_rate_and_channels_decodes_within_bounds_or_is_refused_first(
    rate: int, channels: int, resampled: Resampled
) -> None:
    frames = int(0.15 * rate) if in_range(rate, channels) else max(1, 2000 // max(channels, 1))
    data = wav_declaring(sample_rate=rate, channels=channels, frames=frames)

    if in_range(rate, channels):
        # FFmpeg has no downmix for some channel counts without a layout (9, 11, 13...).
        decoded_within_bounds(data, resampled)
    else:
        refused_before_decoding(data, resampled)


@FUZZ
@given(
    seconds=st.floats(0, 8),
    data_size=st.integers(0, 2**32 - 1),
    offset=st.floats(0, 8) | st.floats(0, 1e308),
)
def test_a_wav_declaring_any_data_size_with_any_offset_decodes_within_bounds_or_is_refused(
    seconds: float, data_size: int, offset: float, resampled: Resampled
) -> None:
    data = wav_declaring(
        sample_rate=8000, channels=1, frames=int(seconds * 8000), data_size=data_size
    )

    if offset > MAX_AUDIO_SEC - LIMITS.min_duration_sec:
        refused_before_decoding(data, resampled, offset=offset)
    else:
        decoded_within_bounds(data, resampled, offset=offset)


@FUZZ
@given(
    rate=st.floats(allow_nan=True, allow_infinity=True) | st.floats(500, 400_000),
    channels=st.integers(0, 255) | st.integers(0, 40),
    seconds=st.floats(0.001, 2),
)
def test_a_matroska_block_declaring_any_rate_and_channels_is_decoded_within_bounds_or_refused(
    rate: float, channels: int, seconds: float, resampled: Resampled
) -> None:
    data = matroska_pcm(
        sine(seconds, sampling_rate=8000, channels=2),
        sampling_rate=8000,
        declared_rate=rate,
        declared_channels=channels,
    )

    decoded_within_bounds(data, resampled)


@FUZZ
@given(
    rate=st.integers(0, 2**20 - 1),
    channels=st.integers(1, 8),
    total_samples=st.integers(0, 2**36 - 1),
    offset=st.floats(0, 10),
)
def test_a_flac_declaring_any_rate_channels_and_length_is_decoded_within_bounds_or_refused(
    rate: int, channels: int, total_samples: int, offset: float, resampled: Resampled
) -> None:
    data = flac_declaring(
        flac_seed(), sample_rate=rate, channels=channels, total_samples=total_samples
    )
    declared_sec = total_samples / rate if rate and total_samples else None

    past_the_limit = offset > MAX_AUDIO_SEC - LIMITS.min_duration_sec
    if past_the_limit or (declared_sec is not None and offset >= declared_sec):
        message = refused_before_decoding(data, resampled, offset=offset)
        assert f"audio_start_offset_sec ({offset}) is beyond the" in message
    else:
        decoded_within_bounds(data, resampled, offset=offset)


@cache
def flac_seed() -> bytes:
    return make_audio("flac", seconds=1.0, sampling_rate=RATE, channels=2)


@pytest.mark.parametrize("offset", [MAX_AUDIO_SEC, 1e12, 1e304, 1e308, sys.float_info.max])
def test_an_offset_past_the_limit_is_refused_before_decoding(
    offset: float, resampled: Resampled
) -> None:
    message = refused_before_decoding(silence("flac", seconds=20.0), resampled, offset=offset)

    assert "beyond the longest audio accepted" in message


@FUZZ
@given(st.integers(0, 400))
def test_a_progressive_jpeg_with_any_number_of_scans_decodes_or_is_refused_by_their_count(
    times: int,
) -> None:
    data = jpeg_repeating_its_last_scan(progressive_jpeg_seed(), times=times)

    message = decode_image_or_refusal(data)

    assert (message is None) == (10 + times <= MAX_JPEG_SCANS)


@cache
def progressive_jpeg_seed() -> bytes:
    return make_image("jpeg", size=(40, 30), progressive=True)
