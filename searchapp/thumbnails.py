from __future__ import annotations

import io

from django.core.files.base import ContentFile

from embeddings.media.images import decode_image

THUMBNAIL_SIDE = 480
MAX_SOURCE_PIXELS = 200_000_000


def make_thumbnail(data: bytes) -> ContentFile[bytes]:
    image = decode_image(data, max_pixels=MAX_SOURCE_PIXELS, max_side=THUMBNAIL_SIDE)
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", quality=82)
    return ContentFile(buffer.getvalue())
