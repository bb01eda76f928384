from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from searchapp.models import Item
from searchapp.search.search_model import embedding_model_key, search_model_key
from searchapp.services.embedding import vectors_carry_over
from searchapp.services.items import items_reembed


class Command(BaseCommand):
    help = (
        "Queue new embeddings with the configured model (EMBEDDINGS_MODEL, "
        "EMBEDDINGS_IMAGE_TOKENS). Search keeps using the old vectors until every item has new "
        "ones. When only the image-token budget changed, texts and sounds keep their vectors."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--all",
            action="store_true",
            help="Also items that already have vectors from this model.",
        )

    def handle(self, *args: Any, all: bool, **options: Any) -> None:
        new_key = embedding_model_key()
        items = Item.objects.all()
        if not all:
            carried = vectors_carry_over(from_key=search_model_key(), to_key=new_key)
            if carried:
                self.stdout.write(f"Kept the vectors of {carried} text and audio items.")
            items = items.exclude(embeddings__model_key=new_key)
        count = items_reembed(items=items)
        self.stdout.write(f"Queued {count} items for embedding with {new_key}.")
