from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps

from embeddings.errors import InputError

SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")


def decode_image(data: bytes, *, max_pixels: int, max_side: int = 4096) -> Image.Image:
    if not data:
        raise InputError("the image file is empty.")
    try:
        image = Image.open(io.BytesIO(data), formats=SUPPORTED_FORMATS)
    except Image.UnidentifiedImageError:
        raise InputError(
            f"unsupported or unreadable image; supported formats: {', '.join(SUPPORTED_FORMATS)}."
        ) from None
    except Image.DecompressionBombError as error:
        raise InputError(f"the image is too large: {error}") from None
    except (OSError, ValueError) as error:
        raise InputError(f"could not decode the image: {error}") from None
    with image:
        pixels = image.width * image.height
        if pixels > max_pixels:
            raise InputError(f"the image has {pixels} pixels; the limit is {max_pixels}.")
        if pixels == 0:
            raise InputError("the image has no pixels.")
        try:
            return _to_rgb(image, max_side=max_side)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
            raise InputError(f"could not decode the image: {error}") from None


def _to_rgb(image: Image.Image, *, max_side: int) -> Image.Image:
    if image.format == "JPEG":
        # Decodes a huge JPEG at a fraction of its size instead of in full.
        image.draft("RGB", (max_side, max_side))
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image.load()
    oriented = ImageOps.exif_transpose(image)
    if oriented.width > max_side or oriented.height > max_side:
        oriented.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return _flatten(oriented)


def _flatten(image: Image.Image) -> Image.Image:
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to 8 bits before converting, or everything turns white.
        image = image.point(lambda value: value / 256).convert("L")
    return image.convert("RGB")
