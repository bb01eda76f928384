from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from embeddings.task_services import embed_tasks_purge


class Command(BaseCommand):
    help = (
        "Delete the embedding tasks (/embed/tasks, /embed-v2/tasks) older than "
        "EMBEDDINGS_TASK_RETENTION_DAYS, with their files. `manage.py worker` does this too."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        purged = embed_tasks_purge()
        self.stdout.write(f"Purged {purged} expired embedding tasks.")
