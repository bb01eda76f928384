from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections
from django_tasks_db.management.commands.db_worker import Command as DatabaseWorkerCommand

from embeddings.engine.registry import warm_up_in_background
from searchapp.models import Status
from searchapp.services.items import items_requeue_stale

logger = logging.getLogger(__name__)

MAX_RECOVERY_INTERVAL_SEC = 60.0
DATABASE_RETRY_SEC = 1.0


class Command(DatabaseWorkerCommand):
    help = (
        "Run the task worker (django-tasks-db's db_worker), which outlives database restarts. "
        "Besides, items left processing longer than EMBEDDING_JOB_LEASE_SEC, as a worker "
        "killed mid-job leaves them, are queued again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        threading.Thread(target=self._recover_forever, name="recover-items", daemon=True).start()
        if settings.EMBEDDINGS_WARM_UP:
            warm_up_in_background()
        while True:
            try:
                super().handle(*args, **options)
                return
            except (OperationalError, InterfaceError) as error:
                # db_worker's polling loop re-raises database errors (a restart cutting its
                # connection mid-query); tasks themselves are not affected.
                logger.warning("Lost the database (%s); polling again shortly", error)
                close_old_connections()
                time.sleep(DATABASE_RETRY_SEC)

    def _recover_forever(self) -> None:
        lease = timedelta(seconds=settings.EMBEDDING_JOB_LEASE_SEC)
        interval = min(MAX_RECOVERY_INTERVAL_SEC, settings.EMBEDDING_JOB_LEASE_SEC / 2)
        while True:
            time.sleep(interval)
            try:
                count = items_requeue_stale(older_than=lease, statuses=[Status.PROCESSING])
                if count:
                    logger.warning("Queued %s items again whose worker stopped mid-job", count)
            except Exception:
                logger.exception("Recovering stalled items failed; trying again later")
            finally:
                close_old_connections()
