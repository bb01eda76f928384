from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone
from django_tasks import default_task_backend, task

from embeddings.task_services import SERVER_ERROR_REASON, embed_task_fail, embed_task_run

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
FIRST_RETRY_DELAY_SEC = 5.0


def retry_delay(attempt: int) -> timedelta:
    return timedelta(seconds=FIRST_RETRY_DELAY_SEC * 2 ** (attempt - 1))


@task()
def run_embed_task(task_id: str, attempt: int = 1) -> None:
    try:
        embed_task_run(task_id=task_id)
    except Exception as error:
        if attempt >= MAX_ATTEMPTS:
            logger.exception("Embedding task %s failed for good (attempt %s)", task_id, attempt)
            embed_task_fail(task_id=task_id, reason=SERVER_ERROR_REASON)
            return
        logger.warning(
            "Embedding task %s failed (attempt %s), retrying: %s: %s",
            task_id,
            attempt,
            type(error).__name__,
            error,
        )
        retry = run_embed_task
        if default_task_backend.supports_defer:
            retry = run_embed_task.using(run_after=timezone.now() + retry_delay(attempt))
        retry.enqueue(task_id, attempt + 1)
