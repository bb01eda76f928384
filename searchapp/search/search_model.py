from __future__ import annotations

import time

from django.db.models import Count

from embeddings.spaces import configured_space
from searchapp.models import Item, ItemEmbedding
from searchapp.search.caches import search_caches

# While a library moves to a new model, the search model is looked up again at most this often.
RECHECK_SEC = 30.0


def embedding_model_key() -> str:
    """The model (and image-token budget) new vectors are made with: the configured one."""
    return configured_space().key


def search_model_key() -> str:
    """The model whose vectors answer searches.

    After a model switch, the old vectors keep answering until every item that has vectors
    has them from the new model too; `manage.py reembed` gets there in the background.
    """
    current = embedding_model_key()
    if current in search_caches.complete_model_keys:
        # New vectors are made with the configured model, so the check (a scan of the library)
        # runs once per process.
        return current
    checked = search_caches.model_keys_during_switch.get(current)
    if checked is not None and time.monotonic() - checked[0] < RECHECK_SEC:
        return checked[1]
    answer = _search_model_key(current)
    if answer == current:
        search_caches.complete_model_keys.add(current)
    else:
        search_caches.model_keys_during_switch[current] = (time.monotonic(), answer)
    return answer


def forget_search_model() -> None:
    """Look the search model up again on next use (this process stored new vectors)."""
    search_caches.model_keys_during_switch.clear()


def _search_model_key(current: str) -> str:
    missing = Item.objects.filter(embeddings__isnull=False).exclude(embeddings__model_key=current)
    if not missing.exists():
        return current
    previous = (
        ItemEmbedding.objects.exclude(model_key=current)
        .values("model_key")
        .annotate(items=Count("item", distinct=True))
        .order_by("-items")
        .first()
    )
    return previous["model_key"] if previous else current
