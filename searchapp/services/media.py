from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from django.db import transaction
from django.db.models import Q, QuerySet
from PIL import Image

from embeddings.conf import embeddings_settings
from embeddings.errors import InputError
from embeddings.media.audio import check_audio, split_clip
from searchapp.media_info import probe_media
from searchapp.models import Item, Modality
from searchapp.thumbnails import decode_for_renditions, make_renditions, needs_preview
from searchapp.waveforms import PeakEnvelope

logger = logging.getLogger(__name__)

# The rate a waveform is measured at when no model is there to set one (the backfill).
WAVEFORM_SAMPLING_RATE = 16_000


@dataclass(frozen=True, kw_only=True)
class MediaFacts:
    """What an item gets besides its vectors: renditions made (storage names) and what
    decoding measured; None or "" where there is nothing new."""

    thumbnail: str = ""
    preview: str = ""
    waveform: list[int] | None = None
    duration_sec: float | None = None
    size: tuple[int | None, int | None] | None = None

    @property
    def files(self) -> list[str]:
        return [name for name in (self.thumbnail, self.preview) if name]

    def apply(self, item: Item) -> list[str]:
        """Set them on the item; the names of the fields set."""
        changed: dict[str, object] = {
            "thumbnail": self.thumbnail,
            "preview": self.preview,
            "waveform": self.waveform,
            "duration_sec": self.duration_sec,
        }
        if self.size is not None:
            changed["width"], changed["height"] = self.size
        fields = [name for name, value in changed.items() if value not in (None, "")]
        for name in fields:
            setattr(item, name, changed[name])
        return fields

    def discard(self, item: Item) -> None:
        for name in self.files:
            item.file.storage.delete(name)


def renditions_needed(item: Item) -> tuple[bool, bool]:
    """(thumbnail, preview): the image renditions the item lacks (a re-embed keeps those it
    has)."""
    preview = (
        item.modality == Modality.IMAGE
        and not item.preview
        and needs_preview(width=item.width, height=item.height, mime_type=item.mime_type)
    )
    return not item.thumbnail, preview


def renditions_make(item: Item, image: Image.Image) -> MediaFacts:
    """Store the renditions the item lacks, made from its decoded image."""
    thumbnail, preview = renditions_needed(item)
    if not (thumbnail or preview):
        return MediaFacts()
    renditions = make_renditions(image, preview=preview)
    storage, name = item.file.storage, f"{item.content_hash[:16]}.webp"
    return MediaFacts(
        thumbnail=""
        if item.thumbnail
        else storage.save(f"thumbnails/{name}", renditions.thumbnail),
        preview=storage.save(f"previews/{name}", renditions.preview) if renditions.preview else "",
    )


def items_needing_media() -> QuerySet[Item]:
    """Items from before waveforms, previews and EXIF-turned sizes: audio without a waveform,
    and images (whose sizes are read again; those still too large get a preview)."""
    return Item.objects.filter(
        Q(modality=Modality.AUDIO, waveform=None) | Q(modality=Modality.IMAGE, preview="")
    ).exclude(file="")


def item_complete_media(*, item: Item) -> list[str]:
    """Give an item what ingestion gives items now, without the model; the fields changed.
    A file that cannot be read is left as it is (logged)."""
    with item.file.open("rb") as stored:
        data = stored.read()
    try:
        facts = _image_facts(item, data) if item.modality == Modality.IMAGE else _audio_facts(data)
    except InputError as error:
        logger.warning("Could not complete the media of item %s: %s", item.pk, error)
        return []
    try:
        with transaction.atomic():
            locked = Item.objects.select_for_update().filter(pk=item.pk).first()
            if locked is None:
                facts.discard(item)
                return []
            fields = facts.apply(locked)
            locked.save(update_fields=[*fields, "updated_at"])
    except BaseException:
        facts.discard(item)
        raise
    return fields


def _image_facts(item: Item, data: bytes) -> MediaFacts:
    info = probe_media(data)
    was = (item.width, item.height)
    # Whether it needs a preview is judged on the size it is shown at.
    item.width, item.height = info.width, info.height
    size = (info.width, info.height) if (info.width, info.height) != was else None
    thumbnail, preview = renditions_needed(item)
    if not (thumbnail or preview):
        return MediaFacts(size=size)
    image = decode_for_renditions(data, preview=preview)
    return replace(renditions_make(item, image), size=size)


def _audio_facts(data: bytes) -> MediaFacts:
    clip = check_audio(
        data, sampling_rate=WAVEFORM_SAMPLING_RATE, limits=embeddings_settings().audio_limits
    )
    envelope = PeakEnvelope(length=clip.length)
    for segment in split_clip(clip):
        envelope.add(segment)
    return MediaFacts(waveform=envelope.levels(), duration_sec=clip.duration_sec)
