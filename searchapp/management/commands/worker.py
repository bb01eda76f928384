from __future__ import annotations

import logging
import threading
import time
from argparse import ArgumentParser
from typing import Any

from django.db import InterfaceError, OperationalError, close_old_connections
from django_tasks_db.management.commands.db_worker import Command as DatabaseWorkerCommand

from embeddings.queues import queues_on_rq
from embeddings.task_services import embed_tasks_purge, embed_tasks_requeue_lost
from embeddings.warm_up import warm_up_once
from searchapp.services.jobs import items_requeue_lost, items_requeue_waiting, lease_renewal_sec

logger = logging.getLogger(__name__)

DATABASE_RETRY_SEC = 1.0


class Command(DatabaseWorkerCommand):
    help = (
        "Run the task worker (django-tasks-db's db_worker, which outlives database restarts, or "
        "with TASKS_BACKEND=django_tasks_rq.RQBackend an RQ worker on REDIS_URL). "
        "Besides, at start and then several times per EMBEDDING_JOB_LEASE_SEC, it queues again "
        "the items of lost jobs: those whose worker stopped renewing their lease (killed, or cut "
        "off from the database mid-job), and pending items with no job queued; once it has "
        "the model, the items that waited for it; the embedding tasks (/embed/tasks) whose run "
        "was lost the same ways; and it purges expired embedding tasks."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        super().add_arguments(parser)
        if queues_on_rq():
            # db_worker's options are the database queue's; its --backend refuses RQ's.
            parser.set_defaults(backend_name=None)

    def handle(self, *args: Any, **options: Any) -> None:
        # Ready before it takes a job: loading the model (seconds of imports holding the GIL)
        # would delay the renewals of that job's lease.
        try:
            warm_up_once()
        except KeyboardInterrupt:
            return  # Ctrl-C (on make run) before the worker took any job
        threading.Thread(target=self._recover_forever, name="recover-items", daemon=True).start()
        if queues_on_rq():
            self._work_on_rq()
            return
        while True:
            try:
                super().handle(*args, **options)
                return
            except (OperationalError, InterfaceError) as error:
                # db_worker's polling loop re-raises database errors (a restart cutting its
                # connection mid-query); a job cut that way is the sweep's to queue again.
                logger.warning("Lost the database (%s); polling again shortly", error)
                close_old_connections()
                time.sleep(DATABASE_RETRY_SEC)

    def _work_on_rq(self) -> None:
        from django_rq import get_worker
        from django_tasks_rq import Job

        # Each job in this process, which holds the model: RQ's default worker forks a process
        # per job, and a forked copy of torch's thread pools can hang. The scheduler runs the
        # retries that wait (embed_item's backoff).
        worker = get_worker("default", job_class=Job, worker_class="rq.SimpleWorker")
        worker.work(with_scheduler=True)

    def _recover_forever(self) -> None:
        while True:
            try:
                items_requeue_lost()
                items_requeue_waiting()
                embed_tasks_requeue_lost()
                embed_tasks_purge()
            except Exception:
                logger.exception("Recovering lost jobs failed; trying again shortly")
            finally:
                close_old_connections()
            time.sleep(lease_renewal_sec())
