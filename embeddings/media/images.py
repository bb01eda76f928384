from __future__ import annotations

import io

from PIL import Image, ImageOps, JpegImagePlugin, UnidentifiedImageError

from embeddings.errors import InputError

FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
SUPPORTED_FORMATS = "JPEG, PNG, WebP, GIF, BMP, TIFF"
ALPHA_MODES = ("RGBA", "LA", "PA")
# Each scan of a progressive JPEG is a pass over every block of the picture, so a file of
# repeated small scans decodes for minutes; encoders write about 10 (libjpeg's default).
MAX_JPEG_SCANS = 100


class UnsupportedImage(InputError):
    pass


def decode_image(data: bytes, *, max_pixels: int, max_side: int = 4096) -> Image.Image:
    with open_image(data, max_pixels=max_pixels) as image:
        try:
            return _decode(image, max_side=max_side)
        except MemoryError:
            raise
        except Exception as error:
            raise InputError(f"could not decode the image: {error}") from error


def open_image(data: bytes, *, max_pixels: int) -> Image.Image:
    """The image with its header read, not yet decoded; UnsupportedImage if it is no image."""
    if not data:
        raise UnsupportedImage("the image file is empty.")
    image = _open(data)
    pixels = image.width * image.height
    if pixels > max_pixels:
        image.close()
        raise InputError(f"the image has {pixels} pixels; the limit is {max_pixels}.")
    if isinstance(image, JpegImagePlugin.JpegImageFile):
        scans = jpeg_scans(data)
        if scans > MAX_JPEG_SCANS:
            image.close()
            raise InputError(f"the JPEG has {scans} scans; the limit is {MAX_JPEG_SCANS}.")
    return image


def jpeg_scans(data: bytes) -> int:
    """Start-of-scan markers of the first picture, found by walking its segments, so the
    bytes inside them (EXIF thumbnails, an MPO's other pictures) are never counted."""
    scans, at = 0, 2
    while (at := data.find(b"\xff", at)) != -1 and at + 1 < len(data):
        marker = data[at + 1]
        if marker == 0xD9:  # end of the picture
            break
        if marker == 0xFF:  # fill byte
            at += 1
        elif marker in (0x00, 0x01) or 0xD0 <= marker <= 0xD7:  # stuffing, markers alone
            at += 2
        else:
            scans += marker == 0xDA
            at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    return scans


def _open(data: bytes) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=FORMATS)
    except UnidentifiedImageError as error:
        raise UnsupportedImage(
            f"unsupported or unreadable image; supported formats: {SUPPORTED_FORMATS}."
        ) from error
    # The warning arrives as an exception only where warnings are errors; otherwise the
    # explicit pixel limit handles the image.
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise InputError(f"the image is too large: {error}") from error
    except MemoryError:
        raise
    except Exception as error:
        raise InputError(f"could not decode the image: {error}") from error


def _decode(image: Image.Image, *, max_side: int) -> Image.Image:
    if isinstance(image, JpegImagePlugin.JpegImageFile):
        # Decodes a huge JPEG at 1/2, 1/4 or 1/8 scale instead of in full.
        image.draft("RGB", (max_side, max_side))
    image.load()
    ImageOps.exif_transpose(image, in_place=True)
    normalised = _rgb_or_rgba(image)
    normalised.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return _on_white(normalised)


def _rgb_or_rgba(image: Image.Image) -> Image.Image:
    if image.mode == "I" or image.mode.startswith("I;16"):
        # Scales 16-bit tones to 8 bits; a plain conversion would clip nearly all to white.
        return image.convert("I").point(lambda value: value / 256).convert("RGB")
    if image.mode in ALPHA_MODES or "transparency" in image.info:
        return image.convert("RGBA")
    return image.convert("RGB")


def _on_white(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, image).convert("RGB")
