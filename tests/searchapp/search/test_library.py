from __future__ import annotations

import numpy as np
import pytest

from bench.media_factory import make_audio, make_image
from embeddings.errors import InputError
from embeddings.services import embed_image, embed_image_with_text
from searchapp.models import Item, ItemEmbedding
from searchapp.search.library import (
    MAX_EXCLUDED_ITEMS,
    LibraryQuery,
    excluded_item_ids,
    library_search,
)
from searchapp.search.query_vectors import away_from
from searchapp.search.selectors import SearchFilters
from searchapp.services.items import ItemDetails, item_add_text, items_set_hidden

pytestmark = pytest.mark.django_db(transaction=True)

ANYTHING = SearchFilters(min_score=-1.0)


def item_with_vector(vector: np.ndarray, *, title: str = "") -> Item:
    """An item whose stored vector is `vector`, whatever the model made of its text."""
    item, created = item_add_text(
        text=f"note {Item.objects.count()}", details=ItemDetails(title=title)
    )
    assert created
    ItemEmbedding.objects.filter(item=item).update(embedding=vector.tolist())
    return item


def unit(*components: tuple[int, float], dimension: int) -> np.ndarray:
    vector = np.zeros(dimension, dtype=np.float32)
    for axis, value in components:
        vector[axis] = value
    return vector / np.linalg.norm(vector)


def ranked_ids(query: LibraryQuery) -> list[int]:
    return [hit.item_id for hit in library_search(query).page.hits]


def test_an_image_with_words_is_searched_by_the_models_composed_vector(model) -> None:  # type: ignore[no-untyped-def]
    png = make_image("png", size=(120, 90))
    at_night = item_with_vector(embed_image_with_text(png, "at night").vector)
    the_image = item_with_vector(embed_image(png).vector)

    composed = library_search(
        LibraryQuery(text="at night", file_bytes=png, filters=ANYTHING, semantic_only=True)
    )
    image_only = library_search(LibraryQuery(file_bytes=png, filters=ANYTHING))

    assert composed.page.hits[0].item_id == at_night.pk
    assert composed.page.hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert composed.query_modality == "image"
    assert image_only.page.hits[0].item_id == the_image.pk


def test_the_words_of_a_composed_query_also_match_the_curators_words(model) -> None:  # type: ignore[no-untyped-def]
    png = make_image("png", size=(120, 90))
    lighthouse, _ = item_add_text(
        text="a tall tower by the water", details=ItemDetails(title="Lighthouse")
    )

    fused = library_search(
        LibraryQuery(text="lighthouse", file_bytes=png, filters=SearchFilters(min_score=1.0))
    )
    semantic = library_search(
        LibraryQuery(
            text="lighthouse",
            file_bytes=png,
            filters=SearchFilters(min_score=1.0),
            semantic_only=True,
        )
    )

    assert [(hit.item_id, hit.text_match) for hit in fused.page.hits] == [(lighthouse.pk, True)]
    assert semantic.page.hits == []


def test_words_with_an_audio_clip_are_refused(model) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="words can refine an image, not a sound"):
        library_search(LibraryQuery(text="louder", file_bytes=make_audio("wav", seconds=1.0)))


def test_excluding_an_item_moves_the_ranking_away_from_its_neighbourhood(model) -> None:  # type: ignore[no-untyped-def]
    dimension = model.dimension
    # Two neighbourhoods, boats (axis 0) and birds (axis 1); the query leans to boats.
    start = item_with_vector(unit((0, 1.0), (1, 0.8), dimension=dimension), title="start")
    boat = item_with_vector(unit((0, 1.0), (2, 0.2), dimension=dimension), title="boat")
    other_boat = item_with_vector(unit((0, 1.0), (3, 0.2), dimension=dimension), title="boat 2")
    bird = item_with_vector(unit((1, 1.0), (2, 0.2), dimension=dimension), title="bird")

    before = ranked_ids(LibraryQuery(item_id=start.pk, filters=ANYTHING))
    after = ranked_ids(
        LibraryQuery(item_id=start.pk, exclude_item_ids=(boat.pk,), filters=ANYTHING)
    )

    assert set(before[:2]) == {boat.pk, other_boat.pk} and before[2] == bird.pk
    assert boat.pk not in after
    assert after.index(bird.pk) < after.index(other_boat.pk)


def test_excluded_items_are_never_returned_even_by_their_words(model) -> None:  # type: ignore[no-untyped-def]
    harbour, _ = item_add_text(text="boats in the harbour")
    marina, _ = item_add_text(text="boats in the marina")

    ids = ranked_ids(LibraryQuery(text="boats", exclude_item_ids=(harbour.pk,), filters=ANYTHING))

    assert harbour.pk not in ids and marina.pk in ids


def test_excluded_items_are_reported_in_order_hidden_and_unknown_ones_ignored(model) -> None:  # type: ignore[no-untyped-def]
    first, _ = item_add_text(text="first note")
    second, _ = item_add_text(text="second note")
    hidden, _ = item_add_text(text="hidden note")
    items_set_hidden(items=Item.objects.filter(pk=hidden.pk), hidden=True)
    plain = ranked_ids(LibraryQuery(text="note", filters=ANYTHING))

    results = library_search(
        LibraryQuery(
            text="note", exclude_item_ids=(second.pk, hidden.pk, 999_999, first.pk, second.pk)
        )
    )
    only_hidden = ranked_ids(
        LibraryQuery(text="note", exclude_item_ids=(hidden.pk,), filters=ANYTHING)
    )

    assert results.excluded_items == [second, first]
    assert only_hidden == plain


def test_more_than_the_most_excluded_items_is_refused(model) -> None:  # type: ignore[no-untyped-def]
    too_many = tuple(range(1, MAX_EXCLUDED_ITEMS + 2))

    with pytest.raises(InputError, match=f"at most {MAX_EXCLUDED_ITEMS} items"):
        library_search(LibraryQuery(text="x", exclude_item_ids=too_many))


def test_excluded_item_ids_are_read_from_repeated_or_comma_separated_values() -> None:
    assert excluded_item_ids(["12, 40", "7", "", " ,"]) == (12, 40, 7)
    with pytest.raises(InputError, match="named by their ids"):
        excluded_item_ids(["12,forty"])


def test_away_from_subtracts_the_weighted_mean_of_the_negatives_and_normalises() -> None:
    query = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    negatives = [np.array([0.6, 0.8, 0.0]), np.array([0.6, 0.0, 0.8])]

    moved = away_from(query, negatives, weight=0.5)

    expected = np.array([0.7, -0.2, -0.2]) / np.linalg.norm([0.7, -0.2, -0.2])
    assert moved == pytest.approx(expected, abs=1e-6)
    assert away_from(query, [query], weight=1.0) is query
    assert away_from(query, [], weight=0.5) is query
