from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from bench.processes import wait_for
from searchapp.models import Item, ItemEmbedding, Status
from searchapp.services import jobs
from searchapp.services.items import item_add_text

pytestmark = pytest.mark.django_db(transaction=True)

LONG_AGO = timedelta(minutes=5)


def left_by_a_dead_worker(text: str, *, lost_jobs: int = 0) -> Item:
    """A text item a killed worker left processing: its lease was last renewed long ago."""
    item = Item.objects.create(modality="text", text=text, content_hash=text.rjust(64, "0"))
    Item.objects.filter(pk=item.pk).update(
        status=Status.PROCESSING, heartbeat_at=timezone.now() - LONG_AGO, lost_jobs=lost_jobs
    )
    return item


def test_an_item_whose_lease_ran_out_is_queued_again_and_ends_ready() -> None:
    item = left_by_a_dead_worker("half done")

    assert jobs.items_requeue_lost() == 1

    item.refresh_from_db()
    assert item.status == Status.READY
    assert item.lost_jobs == 0


def test_an_item_whose_lease_is_renewed_is_left_to_its_job() -> None:
    item = left_by_a_dead_worker("in hand")
    Item.objects.filter(pk=item.pk).update(heartbeat_at=timezone.now())

    assert jobs.items_requeue_lost() == 0
    assert Item.objects.get(pk=item.pk).status == Status.PROCESSING


def test_an_item_whose_jobs_keep_losing_their_worker_fails_with_the_reason() -> None:
    item = left_by_a_dead_worker("out of memory", lost_jobs=jobs.MAX_LOST_JOBS - 1)

    assert jobs.items_requeue_lost() == 0

    item.refresh_from_db()
    assert item.status == Status.FAILED
    assert item.error_message == jobs.LOST_JOBS_REASON


def test_a_pending_item_is_queued_again_only_when_no_job_is_queued_for_it(settings) -> None:  # type: ignore[no-untyped-def]
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    item, _ = item_add_text(text="waiting in line")
    Item.objects.filter(pk=item.pk).update(updated_at=timezone.now() - LONG_AGO)

    assert jobs.items_requeue_lost() == 0
    DBTaskResult.objects.all().delete()  # as if queueing had failed
    assert jobs.items_requeue_lost() == 1
    assert DBTaskResult.objects.get().args_kwargs["args"] == [item.pk]


def test_a_job_renews_the_lease_of_its_items_until_it_ends(settings) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDING_JOB_LEASE_SEC = 0.09  # renewed every 10 ms
    item = left_by_a_dead_worker("long audio")

    def renewed() -> bool:
        return Item.objects.get(pk=item.pk).heartbeat_at > timezone.now() - LONG_AGO / 2

    with jobs.ItemLease() as lease:
        lease.hold([item.pk])
        wait_for(renewed, seconds=10)

    assert "item-lease" not in [thread.name for thread in threading.enumerate()]


def test_a_failed_job_hands_its_items_back_to_the_queue() -> None:
    item = left_by_a_dead_worker("flaky")

    with pytest.raises(ConnectionError), jobs.ItemLease() as lease:
        lease.hold([item.pk])
        raise ConnectionError("the model server went away")

    assert Item.objects.get(pk=item.pk).status == Status.PENDING


def added_while_the_model_is_missing(settings, tmp_path: Path, *texts: str) -> list[Item]:  # type: ignore[no-untyped-def]
    configured = settings.EMBEDDINGS_MODEL
    settings.EMBEDDINGS_MODEL = str(tmp_path / "no-model")
    items = [item_add_text(text=text)[0] for text in texts]
    settings.EMBEDDINGS_MODEL = configured
    return items


def test_items_that_waited_for_the_model_are_queued_once_it_loads_and_end_ready(
    settings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    items = added_while_the_model_is_missing(settings, tmp_path, "gulls", "rain", "thunder")
    assert {item.status for item in Item.objects.all()} == {Status.WAITING}

    assert jobs.items_requeue_waiting() == 3

    assert {item.status for item in Item.objects.all()} == {Status.READY}
    assert ItemEmbedding.objects.filter(item__in=items).count() == 3


def test_items_keep_waiting_while_the_model_still_cannot_load(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (item,) = added_while_the_model_is_missing(settings, tmp_path, "gulls")
    settings.EMBEDDINGS_MODEL = str(tmp_path / "no-model")

    assert jobs.items_requeue_waiting() == 0
    assert Item.objects.get(pk=item.pk).status == Status.WAITING


def test_the_model_is_not_loaded_for_the_waiting_check_while_nothing_waits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(jobs, "get_model", lambda: pytest.fail("loaded the model"))

    assert jobs.items_requeue_waiting() == 0


def test_the_lost_job_sweep_leaves_items_waiting_for_the_model_alone(
    settings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    (item,) = added_while_the_model_is_missing(settings, tmp_path, "gulls")
    Item.objects.filter(pk=item.pk).update(updated_at=timezone.now() - LONG_AGO)

    assert jobs.items_requeue_lost() == 0
    assert Item.objects.get(pk=item.pk).status == Status.WAITING
