from __future__ import annotations

import io
from dataclasses import dataclass

from django.core.files.base import ContentFile
from PIL import Image

from embeddings.media.images import decode_image

THUMBNAIL_SIDE = 480
# The item page shows this rendition of larger images (a 4000 px photo is 5 MB or more).
PREVIEW_SIDE = 2048
MAX_SOURCE_PIXELS = 200_000_000
# Types every current browser shows in an <img>; others (TIFF) get a preview whatever their size.
BROWSER_IMAGE_TYPES = {"image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp"}


@dataclass(frozen=True)
class Renditions:
    thumbnail: ContentFile[bytes]
    preview: ContentFile[bytes] | None


def needs_preview(*, width: int | None, height: int | None, mime_type: str) -> bool:
    return max(width or 0, height or 0) > PREVIEW_SIDE or mime_type not in BROWSER_IMAGE_TYPES


def decode_for_renditions(data: bytes, *, preview: bool) -> Image.Image:
    side = PREVIEW_SIDE if preview else THUMBNAIL_SIDE
    return decode_image(data, max_pixels=MAX_SOURCE_PIXELS, max_side=side)


def make_thumbnail(data: bytes) -> ContentFile[bytes]:
    return make_renditions(decode_for_renditions(data, preview=False), preview=False).thumbnail


def make_renditions(image: Image.Image, *, preview: bool) -> Renditions:
    """A thumbnail, and with `preview` a display-size rendition (WebP), of a decoded image (as
    decode_image gives it: RGB, turned as its EXIF orientation says); the image is kept."""
    shown = _fitted(image, PREVIEW_SIDE) if preview else image
    thumbnail = _webp(_fitted(shown, THUMBNAIL_SIDE))
    # WebP's method 2 encodes a 2048 px picture twice as fast as the default 4, 1 % larger.
    return Renditions(thumbnail=thumbnail, preview=_webp(shown, method=2) if preview else None)


def _fitted(image: Image.Image, side: int) -> Image.Image:
    fitted = image.copy()
    fitted.thumbnail((side, side), Image.Resampling.LANCZOS)
    return fitted


def _webp(image: Image.Image, *, method: int = 4) -> ContentFile[bytes]:
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", quality=82, method=method)
    return ContentFile(buffer.getvalue())
