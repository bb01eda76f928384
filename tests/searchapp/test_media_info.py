from __future__ import annotations

import pytest
from PIL import Image

from bench.media_factory import AUDIO_FORMATS, encode_image, make_audio, make_image
from embeddings.media import audio, images
from searchapp.media_info import AUDIO_MIME_TYPES, IMAGE_MIME_TYPES, probe_media
from searchapp.models import Modality

# Types that Chrome, Firefox and Safari all play in an <audio> element.
BROWSER_AUDIO_TYPES = {
    "audio/wav",
    "audio/mpeg",
    "audio/mp4",
    "audio/aac",
    "audio/ogg",
    "audio/flac",
    "audio/webm",
}


def frames(*colours: tuple[int, int, int]) -> list[Image.Image]:
    return [Image.new("RGB", (40, 30), colour) for colour in colours]


def multi_frame(fmt: str, **options: object) -> bytes:
    first, *rest = frames((255, 0, 0), (0, 0, 255))
    return encode_image(first, fmt, save_all=True, append_images=rest, **options)


def test_every_image_format_the_decoder_opens_has_a_mime_type() -> None:
    assert set(IMAGE_MIME_TYPES) == set(images.FORMATS)


def test_every_audio_demuxer_allowed_has_a_mime_type_a_browser_plays() -> None:
    assert set(AUDIO_MIME_TYPES) == set(audio.DEMUXERS)
    assert set(AUDIO_MIME_TYPES.values()) <= BROWSER_AUDIO_TYPES


@pytest.mark.parametrize(
    ("data", "mime_type"),
    [
        (make_image("jpeg"), "image/jpeg"),
        (make_image("jpeg", mode="CMYK"), "image/jpeg"),
        (make_image("jpeg", progressive=True), "image/jpeg"),
        # Multi-picture JPEGs (MPO) from phones and 3D cameras.
        (multi_frame("MPO"), "image/jpeg"),
        (make_image("png"), "image/png"),
        (multi_frame("PNG"), "image/png"),
        (make_image("webp"), "image/webp"),
        (multi_frame("WEBP"), "image/webp"),
        (make_image("gif", mode="P"), "image/gif"),
        (multi_frame("GIF"), "image/gif"),
        (make_image("bmp"), "image/bmp"),
        (make_image("tiff"), "image/tiff"),
        (multi_frame("TIFF"), "image/tiff"),
    ],
    ids=[
        "jpeg",
        "cmyk-jpeg",
        "progressive-jpeg",
        "mpo",
        "png",
        "apng",
        "webp",
        "animated-webp",
        "gif",
        "animated-gif",
        "bmp",
        "tiff",
        "multi-page-tiff",
    ],
)
def test_probe_media_every_kind_of_image_has_its_type(data: bytes, mime_type: str) -> None:
    info = probe_media(data)

    assert info.modality == Modality.IMAGE
    assert info.mime_type == mime_type


EXPECTED_AUDIO_TYPES = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
    "ogg": "audio/ogg",
    "opus": "audio/ogg",
    "flac": "audio/flac",
    "webm": "audio/webm",
}


@pytest.mark.parametrize("fmt", sorted(AUDIO_FORMATS))
def test_probe_media_every_audio_format_has_a_type_a_browser_plays(fmt: str) -> None:
    info = probe_media(make_audio(fmt, seconds=1.0))

    assert info.modality == Modality.AUDIO
    assert info.mime_type == EXPECTED_AUDIO_TYPES[fmt]
    assert info.duration_sec == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize(
    ("orientation", "size"), [(1, (96, 64)), (3, (96, 64)), (6, (64, 96)), (8, (64, 96))]
)
def test_probe_media_reports_the_size_an_exif_rotated_image_is_shown_at(
    orientation: int, size: tuple[int, int]
) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation

    info = probe_media(make_image("jpeg", size=(96, 64), exif=exif.tobytes()))

    assert (info.width, info.height) == size
