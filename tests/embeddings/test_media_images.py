from __future__ import annotations

import io
import random

import numpy as np
import pytest
from PIL import Image

from bench.media_factory import jpeg_repeating_its_last_scan, make_image, png_declaring
from embeddings.errors import InputError
from embeddings.media.images import MAX_JPEG_SCANS, decode_image, jpeg_scans, open_image

LIMIT = 50_000_000
FORMATS = ["png", "jpeg", "webp", "gif", "bmp", "tiff"]


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def decode(data: bytes, **options: int) -> Image.Image:
    return decode_image(data, max_pixels=options.pop("max_pixels", LIMIT), **options)


@pytest.mark.parametrize("fmt", FORMATS)
def test_decode_image_every_format_gives_rgb(fmt: str) -> None:
    image = decode(make_image(fmt, size=(96, 64)))

    assert image.mode == "RGB"
    assert image.size == (96, 64)
    red, green, _ = image.getpixel((95, 0))
    assert red > 200 and green > 200


@pytest.mark.parametrize(
    ("fmt", "mode"),
    [("png", "L"), ("png", "1"), ("png", "LA"), ("tiff", "I;16B"), ("tiff", "F"), ("bmp", "P")],
)
def test_decode_image_other_modes_give_rgb(fmt: str, mode: str) -> None:
    image = decode(make_image(fmt, size=(40, 30), mode=mode))

    assert image.mode == "RGB"
    assert image.size == (40, 30)


def test_decode_image_applies_exif_orientation() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    image = Image.new("RGB", (120, 40), (200, 10, 10))
    image.paste((10, 10, 200), (0, 0, 20, 40))  # blue on the left edge

    upright = decode(encode(image, "JPEG", exif=exif))

    assert upright.size == (40, 120)
    red, _, blue = upright.getpixel((20, 5))
    assert blue > 150 and red < 80  # the left edge is now the top


def test_decode_image_puts_transparency_on_white() -> None:
    rgba = Image.new("RGBA", (10, 10), (255, 0, 0, 255))
    rgba.putpixel((0, 0), (0, 0, 0, 0))
    rgba.putpixel((1, 0), (0, 0, 0, 128))

    image = decode(encode(rgba, "PNG"))

    assert image.getpixel((0, 0)) == (255, 255, 255)
    assert image.getpixel((1, 0)) == pytest.approx((127, 127, 127), abs=2)
    assert image.getpixel((5, 5)) == (255, 0, 0)


def test_decode_image_palette_with_transparency() -> None:
    palette = Image.new("P", (8, 8), 1)
    palette.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    palette.putpixel((0, 0), 0)

    for fmt in ("PNG", "GIF"):
        image = decode(encode(palette, fmt, transparency=0))

        assert image.getpixel((0, 0)) == (255, 255, 255)
        assert image.getpixel((4, 4)) == (0, 0, 255)


def test_decode_image_rgb_with_a_transparent_colour() -> None:
    rgb = Image.new("RGB", (8, 8), (0, 128, 0))
    rgb.putpixel((0, 0), (1, 2, 3))

    image = decode(encode(rgb, "PNG", transparency=(1, 2, 3)))

    assert image.getpixel((0, 0)) == (255, 255, 255)
    assert image.getpixel((4, 4)) == (0, 128, 0)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_decode_image_sixteen_bit_greyscale_keeps_its_tones(fmt: str) -> None:
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (16, 1))
    data = encode(Image.fromarray(ramp), fmt)

    image = decode(data)

    assert image.getpixel((0, 0))[0] < 10
    assert 100 < image.getpixel((32, 0))[0] < 160
    assert image.getpixel((63, 0))[0] > 245


def test_decode_image_cmyk_jpeg() -> None:
    data = encode(Image.new("CMYK", (20, 20), (0, 255, 255, 0)), "JPEG")

    red, green, blue = decode(data).getpixel((10, 10))

    assert red > 200 and green < 60 and blue < 60


def test_decode_image_animated_gif_gives_the_first_frame() -> None:
    frames = [Image.new("RGB", (16, 16), colour) for colour in ((255, 0, 0), (0, 255, 0))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)

    red, green, _ = decode(data).getpixel((8, 8))

    assert red > 200 and green < 50


def test_decode_image_multi_picture_jpeg_from_a_camera() -> None:
    pictures = [Image.new("RGB", (64, 48), colour) for colour in ((255, 0, 0), (0, 255, 0))]
    data = encode(pictures[0], "MPO", save_all=True, append_images=pictures[1:])

    image = decode(data, max_side=32)

    assert image.size == (32, 24)
    red, green, _ = image.getpixel((8, 8))
    assert red > 200 and green < 50


def test_decode_image_refuses_a_huge_declared_size_before_decoding() -> None:
    with pytest.raises(InputError, match=r"too large.*10000000000 pixels"):
        decode(png_declaring(100_000, 100_000))


def test_decode_image_refuses_a_size_past_pillows_warning_threshold() -> None:
    with pytest.raises(InputError, match=r"100000000 pixels"):
        decode(png_declaring(10_000, 10_000))


def test_decode_image_refuses_a_size_over_the_setting_before_decoding() -> None:
    with pytest.raises(InputError, match=r"^the image has 2000000 pixels; the limit is 1000000"):
        decode(png_declaring(2000, 1000), max_pixels=1_000_000)


def test_decode_image_accepts_a_size_at_the_setting() -> None:
    assert decode(make_image("png", size=(100, 50)), max_pixels=5000).size == (100, 50)


def test_decode_image_downscales_past_the_maximum_side() -> None:
    image = decode(make_image("png", size=(3000, 1000)), max_side=1024)

    assert image.size == (1024, 341)


def test_decode_image_large_jpeg_is_decoded_at_reduced_scale() -> None:
    image = decode(make_image("jpeg", size=(6000, 4000)), max_side=1000)

    assert image.size == (1000, 667)


def progressive_jpeg() -> bytes:
    return make_image("jpeg", size=(64, 64), progressive=True)


def test_decode_image_a_progressive_jpeg_with_as_many_scans_as_the_limit_decodes() -> None:
    data = jpeg_repeating_its_last_scan(progressive_jpeg(), times=MAX_JPEG_SCANS - 10)

    assert jpeg_scans(data) == MAX_JPEG_SCANS
    assert decode(data).size == (64, 64)


@pytest.mark.parametrize("times", [91, 2000])
def test_open_image_refuses_a_jpeg_with_more_scans_than_the_limit_before_decoding(
    times: int,
) -> None:
    data = jpeg_repeating_its_last_scan(progressive_jpeg(), times=times)

    # open_image reads headers only; the scans would be decoded by load().
    with pytest.raises(InputError, match=rf"^the JPEG has {10 + times} scans; the limit is 100"):
        open_image(data, max_pixels=LIMIT)


def test_jpeg_scans_counts_only_the_first_pictures_own_scans() -> None:
    pictures = [Image.new("RGB", (64, 48), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    # An MPO's second picture follows the first; a comment may hold any bytes.
    mpo = encode(pictures[0], "MPO", save_all=True, append_images=pictures[1:], progressive=True)
    commented = encode(pictures[0], "JPEG", comment=b"\xff\xda\x00\x02" * 500)

    assert jpeg_scans(mpo) == jpeg_scans(encode(pictures[0], "JPEG", progressive=True)) == 10
    assert jpeg_scans(commented) == 1


def test_decode_image_refuses_an_empty_file() -> None:
    with pytest.raises(InputError, match="the image file is empty"):
        decode(b"")


@pytest.mark.parametrize(
    "data",
    [
        b"\x00" * 100,
        random.Random(0).randbytes(2000),
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"%PDF-1.4 not an image",
        make_image("ico", size=(32, 32)),
    ],
    ids=["zeros", "noise", "svg", "pdf", "ico"],
)
def test_decode_image_refuses_what_is_not_a_supported_image(data: bytes) -> None:
    with pytest.raises(
        InputError, match=r"^unsupported .*supported formats: JPEG, PNG, WebP, GIF, BMP, TIFF"
    ):
        decode(data)


@pytest.mark.parametrize("fmt", ["jpeg", "png", "gif"])
def test_decode_image_refuses_a_truncated_file(fmt: str) -> None:
    data = make_image(fmt, size=(200, 200))

    with pytest.raises(InputError, match="could not decode the image"):
        decode(data[: len(data) // 2])


@pytest.mark.parametrize("fmt", FORMATS)
def test_decode_image_damaged_files_give_an_image_or_input_error(fmt: str) -> None:
    original = make_image(fmt, size=(40, 30))
    rng = random.Random(fmt)
    for _ in range(40):
        data = bytearray(original)
        for _ in range(rng.randrange(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            image = decode(bytes(data), max_side=64)
        except InputError:
            continue
        assert image.mode == "RGB"
