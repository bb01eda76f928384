from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from searchapp.services.items import items_requeue_stale


class Command(BaseCommand):
    help = "Queue again the items left pending or processing, e.g. by a worker that was killed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=float, default=600.0, help="Seconds.")

    def handle(self, *args: Any, older_than: float, **options: Any) -> None:
        count = items_requeue_stale(older_than=timedelta(seconds=older_than))
        self.stdout.write(f"Queued {count} stale items again.")
