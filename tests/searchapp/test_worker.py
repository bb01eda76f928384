from __future__ import annotations

import signal
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import OperationalError
from django_tasks_db.management.commands.db_worker import Command as DatabaseWorkerCommand

from bench.media_factory import make_audio
from bench.processes import Processes, wait_for
from searchapp.management.commands import worker
from searchapp.models import Item, Status
from searchapp.services.items import item_add_file

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


def test_the_worker_polls_again_after_losing_the_database_mid_query(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # db_worker's polling loop re-raises a query cut by a database restart.
    polls: list[str] = []

    def poll(self, *args, **options):  # type: ignore[no-untyped-def]
        polls.append("poll")
        if len(polls) == 1:
            raise OperationalError("terminating connection due to administrator command")

    monkeypatch.setattr(DatabaseWorkerCommand, "handle", poll)
    monkeypatch.setattr(worker.Command, "_recover_forever", lambda self: None)
    monkeypatch.setattr(worker, "DATABASE_RETRY_SEC", 0.0)
    monkeypatch.setattr(django_settings, "EMBEDDINGS_WARM_UP", False)

    worker.Command().handle()

    assert polls == ["poll", "poll"]
    assert "Lost the database" in caplog.text
