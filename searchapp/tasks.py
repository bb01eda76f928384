from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.utils import timezone
from django_tasks import default_task_backend, task

from searchapp.services.embedding import item_embed, item_fail

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
FIRST_RETRY_DELAY_SEC = 5.0


def retry_delay(attempt: int) -> timedelta:
    return timedelta(seconds=FIRST_RETRY_DELAY_SEC * 2 ** (attempt - 1))


@task()
def embed_item(item_id: int, attempt: int = 1, queued_at: str | None = None) -> None:
    try:
        item_embed(
            item_id=item_id, queued_at=datetime.fromisoformat(queued_at) if queued_at else None
        )
    except Exception as error:
        reason = f"{type(error).__name__}: {error}"
        if attempt >= MAX_ATTEMPTS:
            logger.exception("Embedding item %s failed for good", item_id)
            item_fail(item_id=item_id, reason=f"Gave up after {attempt} attempts. {reason}")
            return
        logger.warning(
            "Embedding item %s failed (attempt %s), retrying: %s", item_id, attempt, reason
        )
        retry = embed_item
        if default_task_backend.supports_defer:
            retry = embed_item.using(run_after=timezone.now() + retry_delay(attempt))
        retry.enqueue(item_id, attempt + 1, queued_at)
