"""Decoded inputs written back as files (for a hosted model): what a decoder reads back."""

from __future__ import annotations

import io
import wave

import av
import numpy as np
from PIL import Image

from bench.media_factory import noise_image, sine
from embeddings.media.encode import image_bytes, mp4_bytes, wav_bytes
from embeddings.media.video import VideoClip


def test_an_image_that_fits_goes_as_png_pixel_for_pixel() -> None:
    image = noise_image(1, size=(120, 80))

    data = image_bytes(image, max_bytes=10**6)

    assert data.startswith(b"\x89PNG")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), np.asarray(image))


def test_an_image_too_large_as_png_goes_as_a_jpeg_scaled_down_until_it_fits() -> None:
    image = noise_image(2, size=(1200, 900))  # noise: about 3 MB as PNG, 1 MB as JPEG

    data = image_bytes(image, max_bytes=200_000)
    sent = Image.open(io.BytesIO(data))

    assert len(data) <= 200_000
    assert sent.format == "JPEG"
    assert sent.width < 1200
    assert abs(sent.width / sent.height - 1200 / 900) < 0.01


def test_audio_goes_as_16_bit_wav_at_its_rate() -> None:
    samples = sine(1.5, sampling_rate=16_000)[0]

    with wave.open(io.BytesIO(wav_bytes(samples, sampling_rate=16_000))) as file:
        assert (file.getnchannels(), file.getsampwidth(), file.getframerate()) == (1, 2, 16_000)
        read = np.frombuffer(file.readframes(file.getnframes()), dtype="<i2") / 32767

    assert read.size == samples.size
    assert np.abs(read - samples).max() <= 1 / 32767


def test_a_clip_goes_as_mp4_with_its_frames_at_their_rate_and_its_sound() -> None:
    frames = np.random.default_rng(0).integers(0, 256, (5, 45, 61, 3), dtype=np.uint8)
    clip = VideoClip(
        start_sec=30.0,
        end_sec=35.0,
        frames=frames,
        frame_times=(30.0, 31.0, 32.0, 33.0, 34.0),
        audio=sine(5.0, sampling_rate=16_000)[0],
    )

    with av.open(io.BytesIO(mp4_bytes(clip, sampling_rate=16_000))) as container:
        video, sound = container.streams.video[0], container.streams.audio[0]
        decoded = [frame.time for frame in container.decode(video)]
        size = (video.codec_context.width, video.codec_context.height)
        rate, duration = sound.rate, float(container.duration or 0) / av.time_base

    assert decoded == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert size == (62, 46)  # odd sides repeat their last row or column for 4:2:0
    assert rate == 16_000
    assert 4.9 <= duration <= 5.2


def test_a_silent_clip_goes_without_a_sound_track() -> None:
    frames = np.zeros((2, 32, 32, 3), dtype=np.uint8)
    clip = VideoClip(start_sec=0.0, end_sec=2.0, frames=frames, frame_times=(0.0, 1.0), audio=None)

    with av.open(io.BytesIO(mp4_bytes(clip, sampling_rate=16_000))) as container:
        assert len(container.streams.audio) == 0
        assert len(list(container.decode(video=0))) == 2
