from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.utils import timezone
from django_tasks import default_task_backend, task

from searchapp.services.embedding import item_embed, item_fail

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
FIRST_RETRY_DELAY_SEC = 5.0
# What users see of a failure that is not their input's fault; the detail (exception, paths)
# goes to the worker's log only. (A missing model is no failure: the item waits for it.)
SERVER_ERROR_REASON = "an error on the server stopped the embedding"


def retry_delay(attempt: int) -> timedelta:
    return timedelta(seconds=FIRST_RETRY_DELAY_SEC * 2 ** (attempt - 1))


def gave_up_reason(*, attempts: int) -> str:
    return f"{SERVER_ERROR_REASON} ({attempts} attempts)."


@task()
def embed_item(item_id: int, attempt: int = 1, queued_at: str | None = None) -> None:
    try:
        item_embed(
            item_id=item_id, queued_at=datetime.fromisoformat(queued_at) if queued_at else None
        )
    except Exception as error:
        if attempt >= MAX_ATTEMPTS:
            logger.exception("Embedding item %s failed for good (attempt %s)", item_id, attempt)
            item_fail(item_id=item_id, reason=gave_up_reason(attempts=attempt))
            return
        logger.warning(
            "Embedding item %s failed (attempt %s), retrying: %s: %s",
            item_id,
            attempt,
            type(error).__name__,
            error,
        )
        retry = embed_item
        if default_task_backend.supports_defer:
            retry = embed_item.using(run_after=timezone.now() + retry_delay(attempt))
        retry.enqueue(item_id, attempt + 1, queued_at)
