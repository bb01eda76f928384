from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from searchapp.models import Item
from searchapp.search_space import embedding_model_key
from searchapp.services.items import items_reembed


class Command(BaseCommand):
    help = (
        "Queue new embeddings with the configured model (EMBEDDINGS_MODEL). Search keeps using "
        "the old vectors until every item has new ones."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--all",
            action="store_true",
            help="Also items that already have vectors from this model.",
        )

    def handle(self, *args: Any, all: bool, **options: Any) -> None:
        items = Item.objects.all()
        if not all:
            items = items.exclude(embeddings__model_key=embedding_model_key())
        count = items_reembed(items=items)
        self.stdout.write(f"Queued {count} items for embedding with {embedding_model_key()}.")
