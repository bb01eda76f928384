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


def make_renditions(data: bytes, *, preview: bool) -> Renditions:
    """A thumbnail, and with `preview` a display-size rendition, from one decode (WebP, turned
    as the EXIF orientation says)."""
    side = PREVIEW_SIDE if preview else THUMBNAIL_SIDE
    image = decode_image(data, max_pixels=MAX_SOURCE_PIXELS, max_side=side)
    shown = _webp(image) if preview else None
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    return Renditions(thumbnail=_webp(image), preview=shown)


def _webp(image: Image.Image) -> ContentFile[bytes]:
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", quality=82)
    return ContentFile(buffer.getvalue())
