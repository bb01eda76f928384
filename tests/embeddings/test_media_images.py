from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from embeddings.errors import InputError
from embeddings.media.images import decode_image
from tests.media_factory import make_image

LIMIT = 50_000_000


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp", "gif", "bmp", "tiff"])
def test_decode_image_every_format_gives_rgb(fmt: str) -> None:
    image = decode_image(make_image(fmt, size=(96, 64)), max_pixels=LIMIT)

    assert image.mode == "RGB"
    assert image.size == (96, 64)


def test_decode_image_applies_exif_orientation() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90° clockwise
    data = encode(Image.new("RGB", (120, 40), (200, 10, 10)), "JPEG", exif=exif)

    assert decode_image(data, max_pixels=LIMIT).size == (40, 120)


def test_decode_image_puts_transparency_on_white() -> None:
    rgba = Image.new("RGBA", (10, 10), (255, 0, 0, 255))
    rgba.putpixel((0, 0), (0, 0, 0, 0))

    image = decode_image(encode(rgba, "PNG"), max_pixels=LIMIT)

    assert image.getpixel((0, 0)) == (255, 255, 255)
    assert image.getpixel((5, 5)) == (255, 0, 0)


def test_decode_image_palette_with_transparency() -> None:
    palette = Image.new("P", (8, 8), 1)
    palette.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    palette.putpixel((0, 0), 0)

    image = decode_image(encode(palette, "PNG", transparency=0), max_pixels=LIMIT)

    assert image.getpixel((0, 0)) == (255, 255, 255)
    assert image.getpixel((4, 4)) == (0, 0, 255)


def test_decode_image_sixteen_bit_greyscale_keeps_its_tones() -> None:
    ramp = np.tile(np.linspace(0, 65535, 64, dtype=np.uint16), (16, 1))
    data = encode(Image.fromarray(ramp), "PNG")

    image = decode_image(data, max_pixels=LIMIT)

    assert image.getpixel((0, 0))[0] < 10
    assert 100 < image.getpixel((32, 0))[0] < 160
    assert image.getpixel((63, 0))[0] > 245


def test_decode_image_cmyk_jpeg() -> None:
    data = encode(Image.new("CMYK", (20, 20), (0, 255, 255, 0)), "JPEG")

    red, green, blue = decode_image(data, max_pixels=LIMIT).getpixel((10, 10))

    assert red > 200 and green < 60 and blue < 60


def test_decode_image_animated_gif_gives_the_first_frame() -> None:
    frames = [Image.new("RGB", (16, 16), colour) for colour in ((255, 0, 0), (0, 255, 0))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)

    red, green, _ = decode_image(data, max_pixels=LIMIT).getpixel((8, 8))

    assert red > 200 and green < 50


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))


def png_declaring(width: int, height: int) -> bytes:
    """A few hundred bytes that claim width x height pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 1000)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", pixels)
        + png_chunk(b"IEND", b"")
    )


def test_decode_image_refuses_a_huge_declared_size_before_decoding() -> None:
    with pytest.raises(InputError, match=r"too large.*10000000000 pixels"):
        decode_image(png_declaring(100_000, 100_000), max_pixels=LIMIT)


def test_decode_image_refuses_a_size_over_the_setting_below_pillows_own_limit() -> None:
    with pytest.raises(InputError, match="the limit is 1000000"):
        decode_image(png_declaring(2000, 1000), max_pixels=1_000_000)


def test_decode_image_downscales_past_the_maximum_side() -> None:
    image = decode_image(make_image("png", size=(3000, 1000)), max_pixels=LIMIT, max_side=1024)

    assert image.size == (1024, 341)


def test_decode_image_large_jpeg_is_decoded_at_reduced_scale() -> None:
    data = make_image("jpeg", size=(6000, 4000))

    image = decode_image(data, max_pixels=LIMIT, max_side=1000)

    assert max(image.size) == 1000


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\x00" * 100, "unsupported"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "unsupported"),
        (b"%PDF-1.4 not an image", "unsupported"),
    ],
)
def test_decode_image_refuses_what_is_not_an_image(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        decode_image(data, max_pixels=LIMIT)


def test_decode_image_refuses_a_truncated_file() -> None:
    data = make_image("jpeg", size=(200, 200))

    with pytest.raises(InputError, match="decode"):
        decode_image(data[: len(data) // 3], max_pixels=LIMIT)
