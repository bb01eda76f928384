from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from tqdm import tqdm

from searchapp.services.media import item_complete_media, items_needing_media


class Command(BaseCommand):
    help = (
        "Give items added before this version what ingestion gives them now, without the "
        "model: a waveform for audio, a display-size preview for large images, and the size an "
        "EXIF-turned photo is shown at. Re-embedding does the same."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        items = items_needing_media().order_by("pk")
        completed = 0
        for item in tqdm(
            items.iterator(), total=items.count(), desc="Items", file=self.stderr, disable=None
        ):
            completed += bool(item_complete_media(item=item))
        self.stdout.write(f"Completed {completed} items.")
