from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from searchapp import tasks
from searchapp.models import Item, Status
from searchapp.services import embedding
from searchapp.services.items import item_add_text, items_requeue_stale

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class FlakyEngine:
    failures_left: int = 0
    calls: list[int] = field(default_factory=list)


@pytest.fixture
def flaky_engine(monkeypatch: pytest.MonkeyPatch) -> FlakyEngine:
    """The engine fails its first calls, as one that lost its GPU or database would."""
    engine = FlakyEngine()
    real = embedding._embed_content

    def embed_content(item: Item):  # type: ignore[no-untyped-def]
        engine.calls.append(item.pk)
        if engine.failures_left:
            engine.failures_left -= 1
            raise ConnectionError("the model server went away")
        return real(item)

    monkeypatch.setattr(embedding, "_embed_content", embed_content)
    return engine


def test_transient_failures_are_retried_until_the_item_is_ready(flaky_engine: FlakyEngine) -> None:
    flaky_engine.failures_left = 2

    item, _ = item_add_text(text="thunder over the hills")

    item.refresh_from_db()
    assert item.status == Status.READY
    assert len(flaky_engine.calls) == 3
    assert item.embeddings.count() == 1


def test_an_item_that_keeps_failing_ends_failed_with_the_reason(flaky_engine: FlakyEngine) -> None:
    flaky_engine.failures_left = 100

    item, _ = item_add_text(text="thunder over the hills")

    item.refresh_from_db()
    assert item.status == Status.FAILED
    assert f"Gave up after {tasks.MAX_ATTEMPTS} attempts" in item.error_message
    assert "the model server went away" in item.error_message
    assert len(flaky_engine.calls) == tasks.MAX_ATTEMPTS
    assert item.embeddings.count() == 0


def test_retry_delays_grow() -> None:
    delays = [tasks.retry_delay(attempt) for attempt in range(1, 5)]

    assert delays == sorted(delays)
    assert delays[0] == timedelta(seconds=tasks.FIRST_RETRY_DELAY_SEC)


def test_embedding_twice_keeps_one_set_of_vectors() -> None:
    item, _ = item_add_text(text="a quiet library")

    tasks.embed_item.call(item.pk)
    tasks.embed_item.call(item.pk)

    assert item.embeddings.count() == 1


def test_items_left_processing_by_a_dead_worker_are_queued_again(settings) -> None:  # type: ignore[no-untyped-def]
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    item, _ = item_add_text(text="half done")
    Item.objects.filter(pk=item.pk).update(status=Status.PROCESSING)
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}

    assert items_requeue_stale(older_than=timedelta(0)) == 1

    item.refresh_from_db()
    assert item.status == Status.READY
