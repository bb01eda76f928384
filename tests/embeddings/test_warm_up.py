from __future__ import annotations

import threading

import pytest
from django.test import Client
from django_tasks import task
from django_tasks_db.management.commands.db_worker import Command as DatabaseWorkerCommand

from embeddings import warm_up
from embeddings.engine import registry
from searchapp.management.commands import worker

WAIT_SEC = 10


@task()
def nothing() -> None:
    pass


@pytest.fixture
def warm_ups(settings, monkeypatch: pytest.MonkeyPatch) -> list[str]:  # type: ignore[no-untyped-def]
    """The warm-ups this process starts from now on, as if it had just started."""
    settings.EMBEDDINGS_WARM_UP = True
    monkeypatch.setattr(warm_up, "_started", threading.Event())
    started: list[str] = []
    monkeypatch.setattr(registry, "warm_up", lambda: started.append("warm-up"))
    return started


def _wait_for_warm_up_thread() -> None:
    for thread in threading.enumerate():
        if thread.name == "model-warm-up":
            thread.join(WAIT_SEC)


@pytest.mark.django_db
def test_a_web_server_warms_the_model_up_on_its_first_request_and_only_then(
    warm_ups: list[str],
) -> None:
    assert warm_ups == []

    for _ in range(3):
        assert Client().get("/accounts/login/").status_code == 200
        _wait_for_warm_up_thread()

    assert len(warm_ups) == 1


def test_a_worker_warms_the_model_up_when_its_first_task_starts(  # type: ignore[no-untyped-def]
    settings, warm_ups: list[str]
) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}

    for _ in range(2):
        nothing.enqueue()
        _wait_for_warm_up_thread()

    assert len(warm_ups) == 1


@pytest.mark.django_db
def test_no_warm_up_when_it_is_switched_off(settings, warm_ups: list[str]) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_WARM_UP = False

    Client().get("/accounts/login/")
    _wait_for_warm_up_thread()

    assert warm_ups == []


def test_the_worker_command_warms_the_model_up_before_it_takes_a_task(  # type: ignore[no-untyped-def]
    warm_ups: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        DatabaseWorkerCommand, "handle", lambda self, *args, **options: warm_ups.append("polling")
    )
    monkeypatch.setattr(worker.Command, "_recover_forever", lambda self: None)

    worker.Command().handle()

    assert warm_ups == ["warm-up", "polling"]
