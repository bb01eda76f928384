"""The queue on Redis (TASKS_BACKEND=django_tasks_rq.RQBackend): a real redis-server, and the
web server and `manage.py worker` as processes, ingesting, retrying and recovering from a
killed worker as they do on the database backend."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings

from bench.media_factory import make_audio, make_image
from bench.processes import Processes, wait_for
from embeddings.keys import api_key_create
from searchapp.models import Item, Status

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Short: items queued behind a job wait for several leases.
LEASE_SEC = "1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture
def rq_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A redis-server of the test's own, and the settings that queue on it."""
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: answers_ping(port), seconds=30)
        yield {
            "TASKS_BACKEND": "django_tasks_rq.RQBackend",
            "REDIS_URL": f"redis://127.0.0.1:{port}/0",
            "EMBEDDING_JOB_LEASE_SEC": LEASE_SEC,
        }
    finally:
        server.kill()
        server.wait()


def add(base: str, key: str, **fields: Any) -> int:
    files = {"file": fields.pop("file")} if "file" in fields else None
    response = httpx.post(
        f"{base}/api/items", data=fields, files=files, headers={"x-api-key": key}, timeout=60
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def status(item_id: int) -> Status:
    return Item.objects.get(pk=item_id).status


def test_items_are_queued_on_redis_and_a_killed_workers_job_is_done_by_the_next(
    processes: Processes, rq_env: dict[str, str]
) -> None:
    _, base = processes.web(**rq_env)
    key = api_key_create(name="rq test")[1]
    note = add(base, key, text="a lighthouse at dusk")
    long_audio = add(base, key, file=("long.flac", make_audio("flac", seconds=120.0)))
    assert {status(note), status(long_audio)} == {Status.PENDING}  # queued, no worker yet

    killed = processes.worker(**rq_env)
    wait_for(lambda: status(note) == Status.READY, seconds=120)
    wait_for(lambda: status(long_audio) == Status.PROCESSING, seconds=60)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert Item.objects.get(pk=long_audio).embeddings.count() == 0

    restarted = processes.worker(**rq_env)
    wait_for(lambda: "whose job was lost" in processes.output(restarted), seconds=60)
    wait_for(lambda: status(long_audio) == Status.PROCESSING, seconds=60)
    # Queued on Redis behind the long job, for longer than a lease: waiting, not lost.
    waiting = [add(base, key, text=f"note {index}") for index in range(3)]
    wait_for(lambda: status(long_audio) == Status.READY, seconds=120)
    wait_for(lambda: {status(note) for note in waiting} == {Status.READY}, seconds=60)

    item = Item.objects.get(pk=long_audio)
    assert sorted(item.embeddings.values_list("segment", flat=True)) == list(range(12))
    queued_again = re.findall(r"whose job was lost: \[([\d, ]+)\]", processes.output(restarted))
    assert queued_again == [str(long_audio)]
    found = httpx.post(
        f"{base}/api/search",
        data={"text": "a lighthouse at dusk", "min_score": "-1"},
        headers={"x-api-key": key},
        timeout=60,
    )
    assert found.json()["results"][0]["id"] == note


def test_a_job_that_fails_is_retried_later_by_the_rq_scheduler(
    processes: Processes, rq_env: dict[str, str]
) -> None:
    _, base = processes.web(**rq_env)
    key = api_key_create(name="rq test")[1]
    photo = add(base, key, file=("photo.png", make_image("png", size=(64, 48))))
    # Its stored file is missing when the first attempt runs, and back before the retry.
    (stored,) = [path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()]
    kept = stored.read_bytes()
    stored.unlink()

    worker = processes.worker(**rq_env)
    wait_for(lambda: "retrying" in processes.output(worker), seconds=120)
    stored.write_bytes(kept)
    started = time.monotonic()
    wait_for(lambda: status(photo) == Status.READY, seconds=60)

    assert "(attempt 1)" in processes.output(worker)
    assert time.monotonic() - started < 60
