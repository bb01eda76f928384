from __future__ import annotations

import numpy as np
import pytest

from searchapp.search import query_vectors
from searchapp.search.caches import LeastRecentlyUsed, search_caches
from searchapp.search.query_vectors import text_query_vector
from searchapp.search.search_model import embedding_model_key


def test_the_least_recently_used_value_goes_first_when_the_cache_is_full() -> None:
    cache: LeastRecentlyUsed[str, str] = LeastRecentlyUsed(2)
    made: list[str] = []

    def get(key: str) -> str:
        def make() -> str:
            made.append(key)
            return key.upper()

        return cache.get_or_make(key, make)

    assert [get("a"), get("b"), get("a"), get("c")] == ["A", "B", "A", "C"]
    get("a")  # still kept: "b" was the least recently used
    get("b")  # made again

    assert made == ["a", "b", "c", "b"]


@pytest.mark.django_db
def test_a_query_text_is_embedded_once_until_the_caches_are_reset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    embedded: list[str] = []
    embed = query_vectors._embed_query_text

    def counted(text: str, model_key: str) -> np.ndarray:
        embedded.append(text)
        return embed(text, model_key)

    monkeypatch.setattr(query_vectors, "_embed_query_text", counted)
    key = embedding_model_key()

    first = text_query_vector("a red kite", model_key=key)
    again = text_query_vector("a red kite", model_key=key)
    assert again is first and embedded == ["a red kite"]
    assert not first.flags.writeable, "a shared vector cannot be changed by one search"

    search_caches.reset()
    text_query_vector("a red kite", model_key=key)
    assert embedded == ["a red kite", "a red kite"]
