from __future__ import annotations

from django.db.models import Count

from embeddings.conf import embeddings_settings
from searchapp.models import Item, ItemEmbedding


def embedding_model_key() -> str:
    """The model new vectors are made with: the configured one."""
    return embeddings_settings().model.source


def search_model_key() -> str:
    """The model whose vectors answer searches.

    After a model switch, the old vectors keep answering until every item that has vectors
    has them from the new model too; `manage.py reembed` gets there in the background.
    """
    current = embedding_model_key()
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
