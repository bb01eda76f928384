from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from searchapp import conf
from searchapp.search.search_model import search_model_key
from searchapp.services.duplicates import duplicates_find_all


class Command(BaseCommand):
    help = (
        "Find every item's near duplicates again (/duplicates/, the admin's filter): after "
        "SEARCH_DUPLICATE_MIN_SCORE was lowered, or for items embedded before pairs were kept. "
        "Items embedded later are looked at as they are embedded."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        model_key = search_model_key()
        pairs = duplicates_find_all(
            model_key=model_key,
            min_score=conf.SEARCH_DUPLICATE_MIN_SCORE.value(),
            progress=lambda done, total: self.stderr.write(f"\r{done}/{total} items", ending=""),
        )
        self.stderr.write("")
        self.stdout.write(
            f"Found {pairs} near-duplicate pairs among the items embedded with {model_key} "
            f"in {time.monotonic() - started:.1f} s."
        )
