from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from embeddings.conf import embeddings_settings
from embeddings.errors import InputError
from searchapp.forms import split_tags
from searchapp.services.items import ItemDetails, item_add_file


class Command(BaseCommand):
    help = (
        "Import every image, audio and video file under PATH into the library and queue embeddings."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--tags", default="", help="Comma-separated tags for every item.")

    def handle(self, *args: Any, path: Path, tags: str, **options: Any) -> None:
        if not path.exists():
            raise CommandError(f"{path} does not exist.")
        files = sorted(p for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file())
        limit = embeddings_settings().max_upload_bytes
        details = ItemDetails(tags=split_tags(tags))
        added = duplicates = skipped = 0
        for file in tqdm(files, desc="Importing", unit="file", file=self.stderr, disable=None):
            if file.stat().st_size > limit:
                self.stderr.write(f"skipped {file}: larger than {limit} bytes")
                skipped += 1
                continue
            try:
                _, created = item_add_file(
                    data=file.read_bytes(),
                    filename=file.name,
                    details=ItemDetails(title=file.stem, tags=details.tags),
                )
            except InputError as error:
                self.stderr.write(f"skipped {file}: {error}")
                skipped += 1
                continue
            added += created
            duplicates += not created
        self.stdout.write(f"Added {added}, already present {duplicates}, skipped {skipped}.")
