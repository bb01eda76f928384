from __future__ import annotations

import numpy as np
import pytest

from bench.media_factory import make_audio, make_image
from searchapp.models import Item, ItemEmbedding, Status
from searchapp.search.search_model import embedding_model_key
from searchapp.search.selectors import (
    SearchFilters,
    item_neighbours,
    item_search,
)
from searchapp.services.items import ItemDetails, item_add_file, item_add_text, items_set_hidden

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def library(model) -> dict[str, Item]:  # type: ignore[no-untyped-def]
    items = {
        "image": item_add_file(data=make_image("png"), filename="sunset.png")[0],
        "audio": item_add_file(data=make_audio("ogg", seconds=3.0), filename="waves.ogg")[0],
        "text": item_add_text(text="a walk along the shore", details=ItemDetails(tags=["sea"]))[0],
        "note": item_add_text(
            text="grocery list: eggs and flour", details=ItemDetails(title="Shopping")
        )[0],
    }
    assert {item.pk for item in items.values()} == set(
        Item.objects.filter(status=Status.READY).values_list("pk", flat=True)
    )
    return items


def search(vector: np.ndarray | None, **kwargs):  # type: ignore[no-untyped-def]
    return item_search(vector=vector, model_key=embedding_model_key(), **kwargs)


def test_a_query_vector_finds_every_modality_ranked_by_similarity(library, model) -> None:  # type: ignore[no-untyped-def]
    query = model.embed_texts(["the sea at dusk"])[0]

    page = search(query, filters=SearchFilters(min_score=-1.0))

    assert {hit.item.modality for hit in page.hits} == {"image", "audio", "text"}
    scores = [hit.score for hit in page.hits]
    assert scores == sorted(scores, reverse=True)
    assert all(-1.0 <= score <= 1.0 for score in scores)


def test_the_item_itself_scores_one(library) -> None:  # type: ignore[no-untyped-def]
    stored = np.asarray(ItemEmbedding.objects.get(item=library["image"]).embedding)

    top = search(stored, filters=SearchFilters(min_score=-1.0)).hits[0]

    assert top.item.pk == library["image"].pk
    assert top.score == pytest.approx(1.0, abs=1e-5)


def test_min_score_hides_weak_matches(library) -> None:  # type: ignore[no-untyped-def]
    stored = np.asarray(ItemEmbedding.objects.get(item=library["image"]).embedding)

    hits = search(stored, filters=SearchFilters(min_score=0.99999)).hits

    assert [hit.item.pk for hit in hits] == [library["image"].pk]


@pytest.mark.parametrize("modality", ["image", "audio", "text"])
def test_modality_filter(library, model, modality: str) -> None:  # type: ignore[no-untyped-def]
    query = model.embed_texts(["anything"])[0]

    hits = search(query, filters=SearchFilters(modality=modality, min_score=-1.0)).hits

    assert hits and {hit.item.modality for hit in hits} == {modality}


def test_tag_filter(library, model) -> None:  # type: ignore[no-untyped-def]
    hits = search(
        model.embed_texts(["x"])[0], filters=SearchFilters(tag="sea", min_score=-1.0)
    ).hits

    assert [hit.item.pk for hit in hits] == [library["text"].pk]


def test_hidden_items_never_appear(library, model) -> None:  # type: ignore[no-untyped-def]
    items_set_hidden(items=Item.objects.filter(pk=library["image"].pk), hidden=True)
    stored = np.asarray(ItemEmbedding.objects.get(item=library["image"]).embedding)

    hits = search(stored, text="sunset", filters=SearchFilters(min_score=-1.0)).hits
    neighbours = item_neighbours(item=library["audio"], model_key=embedding_model_key())

    assert library["image"].pk not in {hit.item.pk for hit in hits}
    assert library["image"].pk not in {hit.item.pk for hit in neighbours}


def test_curators_words_count_even_below_the_similarity_threshold(library, model) -> None:  # type: ignore[no-untyped-def]
    query = model.embed_texts(["shopping"])[0]

    fused = search(query, text="shopping", filters=SearchFilters(min_score=1.0)).hits
    semantic = search(
        query, text="shopping", filters=SearchFilters(min_score=1.0), semantic_only=True
    ).hits

    assert [hit.item.pk for hit in fused] == [library["note"].pk]
    assert fused[0].text_match
    assert semantic == []


def test_audio_hits_carry_the_matching_segment(model) -> None:  # type: ignore[no-untyped-def]
    item, _ = item_add_file(data=make_audio("wav", seconds=16.0), filename="long.wav")
    second_segment = np.asarray(ItemEmbedding.objects.get(item=item, segment=1).embedding)

    (hit,) = search(second_segment, filters=SearchFilters(min_score=0.9999)).hits

    assert (hit.start_sec, hit.end_sec) == (8.0, 16.0)


def test_paging(library, model) -> None:  # type: ignore[no-untyped-def]
    query = model.embed_texts(["x"])[0]
    everything = [
        h.item.pk for h in search(query, filters=SearchFilters(min_score=-1.0), limit=10).hits
    ]

    first = search(query, filters=SearchFilters(min_score=-1.0), limit=2)
    second = search(query, filters=SearchFilters(min_score=-1.0), limit=2, offset=2)

    assert first.has_more and not second.has_more
    assert [h.item.pk for h in first.hits + second.hits] == everything


def test_neighbours_exclude_the_item_itself(library) -> None:  # type: ignore[no-untyped-def]
    neighbours = item_neighbours(item=library["text"], model_key=embedding_model_key())

    assert neighbours
    assert library["text"].pk not in {hit.item.pk for hit in neighbours}
