from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from searchapp import tasks
from searchapp.models import Item, ItemEmbedding, Status
from searchapp.services import embedding
from searchapp.services.items import item_add_text

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class FlakyEngine:
    failures_left: int = 0
    calls: list[int] = field(default_factory=list)  # texts per call


@pytest.fixture
def flaky_engine(monkeypatch: pytest.MonkeyPatch) -> FlakyEngine:
    """The engine fails its first calls, as one that lost its GPU or database would."""
    engine = FlakyEngine()
    real = embedding.embed_texts

    def embed_texts(texts: list[str], **kwargs):  # type: ignore[no-untyped-def]
        engine.calls.append(len(texts))
        if engine.failures_left:
            engine.failures_left -= 1
            raise ConnectionError("the model server went away")
        return real(texts, **kwargs)

    monkeypatch.setattr(embedding, "embed_texts", embed_texts)
    return engine


def test_transient_failures_are_retried_until_the_item_is_ready(flaky_engine: FlakyEngine) -> None:
    flaky_engine.failures_left = 2

    item, _ = item_add_text(text="thunder over the hills")

    item.refresh_from_db()
    assert item.status == Status.READY
    assert len(flaky_engine.calls) == 3
    assert item.embeddings.count() == 1


def test_an_item_that_keeps_failing_ends_failed_with_a_reason_for_users_and_the_detail_logged(
    flaky_engine: FlakyEngine, caplog: pytest.LogCaptureFixture
) -> None:
    flaky_engine.failures_left = 100

    item, _ = item_add_text(text="thunder over the hills")

    item.refresh_from_db()
    assert item.status == Status.FAILED
    assert item.error_message == (
        f"an error on the server stopped the embedding ({tasks.MAX_ATTEMPTS} attempts)."
    )
    assert len(flaky_engine.calls) == tasks.MAX_ATTEMPTS
    assert item.embeddings.count() == 0
    assert "ConnectionError: the model server went away" in caplog.text


def test_an_item_the_model_could_not_load_for_waits_without_using_up_its_attempts(
    settings, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_MODEL = str(tmp_path / "models" / "gone")
    attempts: list[int] = []
    real_embed = embedding.item_embed
    monkeypatch.setattr(
        tasks, "item_embed", lambda **kwargs: attempts.append(1) or real_embed(**kwargs)
    )

    item, _ = item_add_text(text="thunder over the hills")

    item.refresh_from_db()
    assert item.status == Status.WAITING
    assert item.error_message == ""
    assert attempts == [1]
    assert str(tmp_path / "models" / "gone") in caplog.text


def test_retry_delays_grow() -> None:
    delays = [tasks.retry_delay(attempt) for attempt in range(1, 5)]

    assert delays == sorted(delays)
    assert delays[0] == timedelta(seconds=tasks.FIRST_RETRY_DELAY_SEC)


def test_embedding_twice_keeps_one_set_of_vectors() -> None:
    item, _ = item_add_text(text="a quiet library")

    tasks.embed_item.call(item.pk)
    tasks.embed_item.call(item.pk)

    assert item.embeddings.count() == 1


def queued_text_items(count: int) -> list[Item]:
    """Text items waiting in the queue, as uploads leave them before a worker gets to them."""
    return [
        Item.objects.create(modality="text", text=f"note {i}", content_hash=f"{i:064d}")
        for i in range(count)
    ]


def test_a_worker_embeds_queued_text_items_in_one_batch(flaky_engine: FlakyEngine) -> None:
    items = queued_text_items(5)
    queued_at = timezone.now().isoformat()

    tasks.embed_item.call(items[0].pk, queued_at=queued_at)

    assert flaky_engine.calls == [5]
    assert set(Item.objects.values_list("status", flat=True)) == {Status.READY}
    assert ItemEmbedding.objects.count() == 5


def test_the_jobs_of_items_a_batch_took_along_do_not_embed_them_again(
    flaky_engine: FlakyEngine,
) -> None:
    items = queued_text_items(3)
    queued_at = timezone.now().isoformat()
    tasks.embed_item.call(items[0].pk, queued_at=queued_at)

    for item in items[1:]:
        tasks.embed_item.call(item.pk, queued_at=queued_at)

    assert flaky_engine.calls == [3]


def test_a_batch_is_bounded_by_the_batch_size(flaky_engine: FlakyEngine, settings) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_BATCH_SIZE = 2
    items = queued_text_items(5)

    tasks.embed_item.call(items[0].pk)

    assert flaky_engine.calls == [2]
    assert Item.objects.filter(status=Status.READY).count() == 2


def test_a_reembed_queued_after_a_batch_embeds_again(flaky_engine: FlakyEngine) -> None:
    (item,) = queued_text_items(1)
    tasks.embed_item.call(item.pk, queued_at=timezone.now().isoformat())

    tasks.embed_item.call(item.pk, queued_at=timezone.now().isoformat())

    assert flaky_engine.calls == [1, 1]


def test_an_empty_text_in_a_batch_fails_alone(flaky_engine: FlakyEngine) -> None:
    items = queued_text_items(3)
    Item.objects.filter(pk=items[1].pk).update(text="   ")

    tasks.embed_item.call(items[0].pk)

    statuses = dict(Item.objects.values_list("pk", "status"))
    assert statuses == {
        items[0].pk: Status.READY,
        items[1].pk: Status.FAILED,
        items[2].pk: Status.READY,
    }
