from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection

from bench.media_factory import encode_audio, make_image, noise
from searchapp.models import Item, ItemEmbedding, NearDuplicate
from searchapp.search.search_model import embedding_model_key
from searchapp.search.selectors import near_duplicate_groups
from searchapp.services.duplicates import duplicates_find_all
from searchapp.services.embedding import item_embed
from searchapp.services.items import (
    item_add_file,
    item_add_text,
    items_delete,
    items_reembed,
    items_set_hidden,
)

pytestmark = pytest.mark.django_db(transaction=True)


def pairs() -> set[tuple[int, int]]:
    return set(NearDuplicate.objects.values_list("item_id", "other_id"))


def groups(min_score: float = 0.97) -> list[list[int]]:
    found = near_duplicate_groups(model_key=embedding_model_key(), min_score=min_score)
    return [[hit.item_id for hit in group] for group in found]


def items_with_vectors(vectors: list[np.ndarray]) -> list[Item]:
    items = [item_add_text(text=f"note {index}")[0] for index in range(len(vectors))]
    for item, vector in zip(items, vectors, strict=True):
        ItemEmbedding.objects.filter(item=item).update(embedding=vector.tolist())
    return items


def near(vector: np.ndarray, *, by: float, seed: int) -> np.ndarray:
    """A unit vector at cosine similarity about 1 - by²/2 from `vector`."""
    step = np.random.default_rng(seed).standard_normal(vector.shape)
    step -= (step @ vector) * vector
    moved = vector + by * step / np.linalg.norm(step)
    return moved / np.linalg.norm(moved)


@pytest.fixture
def random_vectors(model) -> np.ndarray:  # type: ignore[no-untyped-def]
    vectors = np.random.default_rng(5).standard_normal((8, model.dimension))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_a_re_encoded_copy_of_an_image_is_found_as_it_is_embedded(model) -> None:  # type: ignore[no-untyped-def]
    picture = make_image("png", size=(160, 120))
    original, _ = item_add_file(data=picture, filename="harbour.png")
    item_add_text(text="a shopping list")

    copy, _ = item_add_file(data=make_image("jpeg", size=(160, 120), quality=95), filename="h.jpg")

    assert pairs() == {(original.pk, copy.pk)}
    score = NearDuplicate.objects.get().score
    assert 0.97 <= score <= 1.0


def test_an_audio_copy_in_another_format_is_found_by_its_averaged_segments(model) -> None:  # type: ignore[no-untyped-def]
    sound = noise(16.0, sampling_rate=16000, seed=4)
    wav, _ = item_add_file(data=encode_audio(sound, "wav", sampling_rate=16000), filename="a.wav")
    item_add_text(text="a shopping list")

    flac, _ = item_add_file(
        data=encode_audio(sound, "flac", sampling_rate=16000), filename="a.flac"
    )

    assert ItemEmbedding.objects.filter(item=wav).count() == 2
    assert pairs() == {(wav.pk, flac.pk)}


def test_two_copies_embedded_at_once_by_two_workers_still_find_each_other(
    model, settings, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    first, _ = item_add_file(data=make_image("png", size=(160, 120)), filename="a.png")
    second, _ = item_add_file(data=make_image("webp", size=(160, 120)), filename="b.webp")
    # The first worker's transaction stays open until the second worker's has committed.
    first_storing, second_committed = threading.Event(), threading.Event()
    save = Item.save

    def save_slowly(item: Item, *args: Any, **kwargs: Any) -> None:
        save(item, *args, **kwargs)
        if item.pk == first.pk:
            first_storing.set()
            second_committed.wait(timeout=30)

    monkeypatch.setattr(Item, "save", save_slowly)

    def first_worker() -> None:
        try:
            item_embed(item_id=first.pk)
        finally:
            connection.close()

    worker = threading.Thread(target=first_worker)
    worker.start()
    assert first_storing.wait(timeout=30)
    item_embed(item_id=second.pk)
    second_committed.set()
    worker.join()

    assert pairs() == {(first.pk, second.pk)}


def test_copies_link_into_one_group_newest_first_and_groups_newest_first(random_vectors) -> None:  # type: ignore[no-untyped-def]
    a, b, c, d, e, f, g, h = random_vectors
    # b is near a and near c, which are further apart: one group through b.
    b = near(a, by=0.2, seed=1)
    c = near(b, by=0.2, seed=2)
    e = near(d, by=0.1, seed=3)
    items = items_with_vectors([a, b, c, d, e, f, g, h])

    duplicates_find_all(model_key=embedding_model_key(), min_score=0.97)

    ids = [item.pk for item in items]
    assert groups() == [[ids[4], ids[3]], [ids[2], ids[1], ids[0]]]
    assert (ids[0], ids[2]) not in pairs()
    assert groups(min_score=0.999) == []


def test_hidden_items_are_left_out_of_groups(random_vectors) -> None:  # type: ignore[no-untyped-def]
    a = random_vectors[0]
    items = items_with_vectors([a, near(a, by=0.1, seed=1), near(a, by=0.1, seed=2)])
    duplicates_find_all(model_key=embedding_model_key(), min_score=0.97)

    items_set_hidden(items=Item.objects.filter(pk=items[0].pk), hidden=True)

    assert groups() == [[items[2].pk, items[1].pk]]


def test_pairs_go_with_deleted_items_and_are_found_again_on_re_embedding(model) -> None:  # type: ignore[no-untyped-def]
    first, _ = item_add_file(data=make_image("png", size=(160, 120)), filename="a.png")
    second, _ = item_add_file(data=make_image("bmp", size=(160, 120)), filename="b.bmp")
    third, _ = item_add_file(data=make_image("webp", size=(160, 120)), filename="c.webp")
    assert pairs() == {(first.pk, second.pk), (first.pk, third.pk), (second.pk, third.pk)}

    items_delete(items=Item.objects.filter(pk=first.pk))
    NearDuplicate.objects.all().delete()
    items_reembed(items=Item.objects.filter(pk=third.pk))

    assert pairs() == {(second.pk, third.pk)}


def test_the_command_finds_every_pair_again_after_the_threshold_was_lowered(
    random_vectors, settings
) -> None:  # type: ignore[no-untyped-def]
    a = random_vectors[0]
    items = items_with_vectors([a, near(a, by=0.3, seed=1), random_vectors[1]])
    assert pairs() == set()

    settings.SEARCH_DUPLICATE_MIN_SCORE = 0.9
    call_command("find_duplicates")

    assert pairs() == {(items[0].pk, items[1].pk)}
