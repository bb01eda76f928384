from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.db import connection

from bench.media_factory import make_audio
from searchapp.models import Item, Status
from searchapp.services.items import item_add_file

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
StartWorker = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def start_worker(settings, tmp_path: Path) -> Iterator[StartWorker]:  # type: ignore[no-untyped-def]
    """Real `manage.py worker` processes on the test database, with the durable task backend."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    settings.MEDIA_ROOT = tmp_path / "data" / "media"
    database = connection.settings_dict
    host = database["HOST"] or database["OPTIONS"].get("host", "")
    url = f"postgres://{database['USER']}@{quote(host, safe='')}/{database['NAME']}"
    started: list[subprocess.Popen[bytes]] = []

    def start(**env: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "worker", "--interval", "0.05", "--no-startup-delay"],
            cwd=ROOT,
            env={
                **os.environ,
                "DATABASE_URL": url,
                "DATA_DIR": str(tmp_path / "data"),
                "EMBEDDINGS_MODEL": django_settings.EMBEDDINGS_MODEL,
                "EMBEDDINGS_DEVICE": "cpu",
                **env,
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
        process.wait()


def wait_for(condition: Callable[[], bool], *, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_worker_killed_mid_job_leaves_nothing_half_written_and_the_job_runs_again(
    start_worker: StartWorker, settings
) -> None:  # type: ignore[no-untyped-def]
    # Long enough that the job is still running when the worker is killed.
    item, _ = item_add_file(data=make_audio("flac", seconds=900.0), filename="long.flac")
    worker = start_worker()

    wait_for(lambda: Item.objects.get(pk=item.pk).status == Status.PROCESSING, seconds=60)
    worker.send_signal(signal.SIGKILL)
    worker.wait()

    item.refresh_from_db()
    assert item.status == Status.PROCESSING
    assert item.embeddings.count() == 0

    start_worker(EMBEDDING_JOB_LEASE_SEC="1")
    wait_for(lambda: Item.objects.get(pk=item.pk).status == Status.READY, seconds=120)

    item.refresh_from_db()
    assert item.embeddings.count() == 90
    assert sorted(item.embeddings.values_list("segment", flat=True)) == list(range(90))
    stored = [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]
    assert len(stored) == 1
