from __future__ import annotations

import signal
from pathlib import Path

import pytest

from bench.media_factory import make_audio
from searchapp.models import Item, Status
from searchapp.services.items import item_add_file
from tests.processes import Processes, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_worker_killed_mid_job_leaves_nothing_half_written_and_the_job_runs_again(
    processes: Processes, settings
) -> None:  # type: ignore[no-untyped-def]
    # Long enough that the job is still running when the worker is killed.
    item, _ = item_add_file(data=make_audio("flac", seconds=900.0), filename="long.flac")
    worker = processes.worker()

    wait_for(lambda: Item.objects.get(pk=item.pk).status == Status.PROCESSING, seconds=60)
    worker.send_signal(signal.SIGKILL)
    worker.wait()

    item.refresh_from_db()
    assert item.status == Status.PROCESSING
    assert item.embeddings.count() == 0

    processes.worker(EMBEDDING_JOB_LEASE_SEC="1")
    wait_for(lambda: Item.objects.get(pk=item.pk).status == Status.READY, seconds=120)

    item.refresh_from_db()
    assert item.embeddings.count() == 90
    assert sorted(item.embeddings.values_list("segment", flat=True)) == list(range(90))
    stored = [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]
    assert len(stored) == 1
