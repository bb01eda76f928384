from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import timedelta
from types import TracebackType
from typing import Any

from django.db import DatabaseError, close_old_connections, connections, transaction
from django.db.models import BigIntegerField, F, Q, QuerySet
from django.db.models.functions import Now
from django.utils import timezone

from embeddings.conf import JOB_LEASE_SEC
from embeddings.engine.base import ModelUnavailable
from embeddings.engine.registry import get_model
from embeddings.queues import first_args_of_jobs
from searchapp.models import Item, Status

logger = logging.getLogger(__name__)

# A lease is renewed this many times over its length, so that several renewals can fail (a
# database restart waited out for DATABASE_CONNECT_RETRY_SEC) before a live job looks lost;
# the sweep runs as often.
RENEWALS_PER_LEASE = 9
# An item whose jobs keep losing their worker (an input that runs it out of memory, say) fails
# after this many, instead of taking a worker down for good.
MAX_LOST_JOBS = 3
LOST_JOBS_REASON = (
    f"processing stopped {MAX_LOST_JOBS} times before it finished (its worker stopped, perhaps "
    "running out of memory on this file)."
)


def job_lease() -> timedelta:
    return timedelta(seconds=JOB_LEASE_SEC.value())


def lease_renewal_sec() -> float:
    return JOB_LEASE_SEC.value() / RENEWALS_PER_LEASE


def enqueue_embeddings(item_ids: Iterable[int]) -> None:
    """Queue an embedding job per item. One that cannot be queued (the database went away
    after the item's row committed) is left pending with no job, which the sweep finds."""
    from searchapp.tasks import embed_item

    for item_id in item_ids:
        try:
            embed_item.enqueue(item_id, queued_at=timezone.now().isoformat())
        except Exception:
            logger.exception("Could not queue item %s; the worker's sweep queues it later", item_id)


class ItemLease:
    """A running job's hold on the items it embeds: a thread renews their heartbeat until the
    job ends, however long it runs, so the sweep takes only items whose worker is gone."""

    def __init__(self) -> None:
        self._held: set[int] = set()
        self._stopped = threading.Event()
        self._renewer = threading.Thread(target=self._renew, name="item-lease", daemon=True)

    def hold(self, item_ids: Iterable[int]) -> None:
        self._held.update(item_ids)

    @property
    def held(self) -> list[int]:
        return sorted(self._held)

    def __enter__(self) -> ItemLease:
        self._renewer.start()
        return self

    def __exit__(
        self,
        error_type: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stopped.set()
        self._renewer.join()
        if error is not None:
            self._release()

    def _release(self) -> None:
        # The job failed: its items wait for a retry or for their own queued jobs, not for the
        # sweep. With the database gone this fails too, and the sweep finds them after all.
        try:
            Item.objects.filter(pk__in=self.held, status=Status.PROCESSING).update(
                status=Status.PENDING, updated_at=timezone.now()
            )
        except DatabaseError as error:
            logger.warning("Could not hand back items %s: %s", self.held, error)

    def _renew(self) -> None:
        try:
            while not self._stopped.wait(lease_renewal_sec()):
                try:
                    Item.objects.filter(pk__in=self.held).update(heartbeat_at=Now())
                except DatabaseError as error:
                    logger.warning("Could not renew the lease of items %s: %s", self.held, error)
                    close_old_connections()
        finally:
            connections.close_all()  # this thread's


def items_requeue_lost() -> int:
    """Queue again the items whose job was lost: processing with a heartbeat older than the
    lease (the worker was killed, or cut off from the database mid-job), or pending with no
    job in the queue (queueing failed after the item was stored)."""
    cutoff = Now() - job_lease()  # the database's clock, as the renewals'
    with transaction.atomic():
        interrupted = list(
            Item.objects.select_for_update(skip_locked=True)
            .filter(status=Status.PROCESSING)
            .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at=None, updated_at__lt=cutoff))
            .values_list("pk", "lost_jobs")
        )
        unqueued = list(
            Item.objects.select_for_update(skip_locked=True)
            .filter(status=Status.PENDING, updated_at__lt=cutoff)
            .exclude(pk__in=_items_with_a_job())
            .values_list("pk", flat=True)
        )
        given_up = [pk for pk, lost_jobs in interrupted if lost_jobs + 1 >= MAX_LOST_JOBS]
        again = [pk for pk, _ in interrupted if pk not in given_up] + unqueued
        Item.objects.filter(pk__in=[pk for pk, _ in interrupted]).update(
            lost_jobs=F("lost_jobs") + 1
        )
        Item.objects.filter(pk__in=given_up).update(
            status=Status.FAILED, error_message=LOST_JOBS_REASON, updated_at=timezone.now()
        )
        Item.objects.filter(pk__in=again).update(status=Status.PENDING, updated_at=timezone.now())
        transaction.on_commit(lambda: enqueue_embeddings(again))
    if again:
        logger.warning("Queued %s items again whose job was lost: %s", len(again), again)
    if given_up:
        logger.warning(
            "Items %s failed for good: %s of their jobs were lost", given_up, MAX_LOST_JOBS
        )
    return len(again)


def items_wait_for_model(item_ids: Iterable[int]) -> None:
    """The model could not be loaded: the items wait, with no attempt used up, outside the
    sweep's reach (it takes only pending and processing items) until `items_requeue_waiting`."""
    Item.objects.filter(pk__in=list(item_ids)).update(
        status=Status.WAITING, error_message="", updated_at=timezone.now()
    )


def items_requeue_waiting() -> int:
    """Queue again the items waiting for the model, once this process can load it (and, for a
    remote model, a node has not failed lately). While none wait this costs one query; a model
    that still fails is tried again only every RETRY_AFTER_FAILURE_SEC
    (embeddings/engine/registry.py), inference nodes every NODE_REST_SEC
    (embeddings/engine/remote.py)."""
    if not Item.objects.filter(status=Status.WAITING).exists():
        return 0
    try:
        if not get_model().answering():
            return 0
    except ModelUnavailable:
        return 0
    with transaction.atomic():
        ids = list(
            Item.objects.select_for_update(skip_locked=True)
            .filter(status=Status.WAITING)
            .values_list("pk", flat=True)
        )
        Item.objects.filter(pk__in=ids).update(status=Status.PENDING, updated_at=timezone.now())
        transaction.on_commit(lambda: enqueue_embeddings(ids))
    if ids:
        logger.info("The model is loaded: queued %s items that waited for it", len(ids))
    return len(ids)


def _items_with_a_job() -> QuerySet[Any] | set[Any]:
    from searchapp.tasks import embed_item

    return first_args_of_jobs(
        embed_item.module_path, lease=job_lease(), output_field=BigIntegerField()
    )
