from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest
from django.db import OperationalError
from django_tasks_db.management.commands.db_worker import Command as DatabaseWorkerCommand
from django_tasks_db.models import DBTaskResult

from bench.media_factory import make_audio
from bench.processes import Processes, wait_for
from searchapp.management.commands import worker
from searchapp.models import Item, Status
from searchapp.services.items import item_add_file
from searchapp.tasks import embed_item

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


# Short, so the tests need not wait out the default 45 s.
LEASE_SEC = "3"


def status(item: Item) -> Status:
    return Item.objects.get(pk=item.pk).status


def long_audio() -> Item:
    # Long enough that its job is still running when a test acts on it.
    item, _ = item_add_file(data=make_audio("flac", seconds=120.0), filename="long.flac")
    return item


def test_a_worker_killed_mid_job_leaves_nothing_half_written_and_a_restarted_worker_redoes_it(
    processes: Processes, settings
) -> None:  # type: ignore[no-untyped-def]
    item = long_audio()
    killed = processes.worker(EMBEDDING_JOB_LEASE_SEC=LEASE_SEC)

    wait_for(lambda: status(item) == Status.PROCESSING, seconds=60)
    killed.send_signal(signal.SIGKILL)
    killed.wait()

    item.refresh_from_db()
    assert item.status == Status.PROCESSING
    assert item.embeddings.count() == 0

    processes.worker(EMBEDDING_JOB_LEASE_SEC=LEASE_SEC)
    wait_for(lambda: status(item) == Status.READY, seconds=60)

    item.refresh_from_db()
    assert sorted(item.embeddings.values_list("segment", flat=True)) == list(range(12))
    assert item.lost_jobs == 0
    stored = [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]
    assert len(stored) == 1


def test_a_long_job_on_a_live_worker_is_not_taken_by_another(processes: Processes) -> None:
    item = long_audio()
    # Both sweep for lost jobs every 0.11 s; the job takes many times the 1 s lease.
    workers = [processes.worker(EMBEDDING_JOB_LEASE_SEC="1") for _ in range(2)]

    wait_for(lambda: status(item) == Status.READY, seconds=120)

    assert DBTaskResult.objects.filter(task_path=embed_item.module_path).count() == 1
    for process in workers:
        assert "job was lost" not in processes.output(process)


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

    worker.Command().handle()

    assert polls == ["poll", "poll"]
    assert "Lost the database" in caplog.text


def test_an_item_uploaded_while_the_model_is_missing_waits_and_a_worker_with_the_model_embeds_it(
    processes: Processes, api_key: str, tmp_path: Path
) -> None:
    missing = str(tmp_path / "no-model-here")
    _, base = processes.web(EMBEDDINGS_MODEL=missing)
    stuck = processes.worker(EMBEDDINGS_MODEL=missing, EMBEDDING_JOB_LEASE_SEC=LEASE_SEC)
    with httpx.Client(base_url=base, headers={"x-api-key": api_key}, timeout=30) as client:
        added = client.post(
            "/api/items", files={"file": ("gulls.flac", make_audio("flac", seconds=3.0))}
        )
        assert added.status_code == 201
        item = Item.objects.get(pk=added.json()["id"])

        wait_for(lambda: status(item) == Status.WAITING, seconds=60)
        assert client.get(f"/api/items/{item.pk}").json()["status"] == "waiting"
        assert "Waiting for the model" in client.get(f"/items/{item.pk}/").text

        stuck.send_signal(signal.SIGKILL)
        stuck.wait()
        processes.worker(EMBEDDING_JOB_LEASE_SEC=LEASE_SEC)
        wait_for(lambda: status(item) == Status.READY, seconds=90)

        assert client.get(f"/api/items/{item.pk}").json()["status"] == "ready"
    item.refresh_from_db()
    assert item.embeddings.count() == 1
    assert item.lost_jobs == 0
