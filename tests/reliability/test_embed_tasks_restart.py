from __future__ import annotations

import base64
import json
import signal
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from bench.media_factory import make_audio
from bench.processes import Processes, wait_for
from embeddings.models import EmbedTask

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Short, so a killed worker's task is taken up again within seconds.
LEASE_SEC = "3"


def audio_task(client: Client, *, seconds: float) -> str:
    audio = base64.b64encode(make_audio("flac", seconds=seconds)).decode()
    body = {
        "input_type": "audio",
        "model_name": "marengo3.0",
        "audio": {"media_source": {"base64_string": audio}},
    }
    response = client.post(
        "/v1.3/embed-v2/tasks", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 200, response.json()
    return str(response.json()["_id"])


def task(task_id: str) -> EmbedTask:
    return EmbedTask.objects.get(pk=task_id)


def stored_files(settings) -> list[Path]:  # type: ignore[no-untyped-def]
    return [path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()]


def test_a_task_queued_while_its_worker_was_killed_is_run_by_the_next_which_purges_expired_ones(
    processes: Processes, api_client: Client, settings
) -> None:  # type: ignore[no-untyped-def]
    task_id = audio_task(api_client, seconds=3.0)
    expired = audio_task(api_client, seconds=3.0)
    EmbedTask.objects.filter(pk=expired).update(created_at=timezone.now() - timedelta(days=8))
    killed = processes.worker()
    killed.send_signal(signal.SIGKILL)
    killed.wait()

    processes.worker()
    wait_for(lambda: task(task_id).status == EmbedTask.Status.READY, seconds=90)
    wait_for(lambda: not EmbedTask.objects.filter(pk=expired).exists(), seconds=30)

    assert task(task_id).segments.count() == 2  # a clip and the asset
    assert stored_files(settings) == []  # the expired task's file went with it


def test_a_worker_killed_mid_task_leaves_nothing_half_written_and_the_next_one_redoes_it(
    processes: Processes, api_client: Client, settings
) -> None:  # type: ignore[no-untyped-def]
    task_id = audio_task(api_client, seconds=120.0)
    killed = processes.worker(EMBEDDING_JOB_LEASE_SEC=LEASE_SEC)

    wait_for(lambda: task(task_id).heartbeat_at is not None, seconds=60)
    killed.send_signal(signal.SIGKILL)
    killed.wait()

    assert task(task_id).status == EmbedTask.Status.PROCESSING
    assert task(task_id).segments.count() == 0
    assert len(stored_files(settings)) == 1

    worker = processes.worker(EMBEDDING_JOB_LEASE_SEC=LEASE_SEC)
    wait_for(lambda: task(task_id).status == EmbedTask.Status.READY, seconds=120)

    assert task(task_id).segments.count() == 13  # twelve 10 s clips and the asset
    assert task(task_id).lost_jobs == 1
    assert "embedding tasks again whose run was lost" in processes.output(worker)
    assert stored_files(settings) == []
