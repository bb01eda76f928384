from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from embeddings.keys import api_key_create


class Command(BaseCommand):
    help = "Create an API key for the Embed API. The key is printed once, on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="What the key is for, e.g. the client's name.")

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        api_key, key = api_key_create(name=name)
        self.stderr.write(f"Created API key {api_key}. Store it now: it cannot be shown again.")
        self.stdout.write(key)
