from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from embeddings.errors import InputError
from embeddings.services import Embedding, embed_audio, embed_image, embed_text
from searchapp.models import Item, ItemEmbedding, Modality, Status
from searchapp.search_space import embedding_model_key
from searchapp.thumbnails import make_thumbnail
from searchapp.vector_index import ensure_vector_index


def item_embed(*, item_id: int) -> None:
    """Compute and store the item's vectors with the configured model, all or nothing.

    Input the model cannot use fails the item with the reason; anything else raises, and the
    task retries it.
    """
    item = Item.objects.filter(pk=item_id).first()
    if item is None:
        return
    Item.objects.filter(pk=item_id).exclude(status=Status.READY).update(
        status=Status.PROCESSING, updated_at=timezone.now()
    )
    try:
        embeddings = _embed_content(item)
        thumbnail_name = _store_thumbnail(item)
    except InputError as error:
        item_fail(item_id=item_id, reason=str(error))
        return
    model_key = embedding_model_key()
    ensure_vector_index(model_key=model_key, dimension=len(embeddings[0].vector))
    stored = False
    try:
        stored = _store_embeddings(
            item_id=item_id,
            model_key=model_key,
            embeddings=embeddings,
            thumbnail_name=thumbnail_name,
        )
    finally:
        if thumbnail_name and not stored:
            item.thumbnail.storage.delete(thumbnail_name)


def item_fail(*, item_id: int, reason: str) -> None:
    Item.objects.filter(pk=item_id).update(
        status=Status.FAILED, error_message=reason[:2000], updated_at=timezone.now()
    )


def _embed_content(item: Item) -> list[Embedding]:
    if item.modality == Modality.TEXT:
        return [embed_text(item.text)]
    with item.file.open("rb") as stored:
        data = stored.read()
    if item.modality == Modality.IMAGE:
        return [embed_image(data)]
    return embed_audio(data)


def _store_thumbnail(item: Item) -> str:
    if item.modality != Modality.IMAGE or item.thumbnail:
        return ""
    with item.file.open("rb") as stored:
        thumbnail = make_thumbnail(stored.read())
    return item.thumbnail.storage.save(f"thumbnails/{item.content_hash[:16]}.webp", thumbnail)


def _store_embeddings(
    *, item_id: int, model_key: str, embeddings: list[Embedding], thumbnail_name: str
) -> bool:
    with transaction.atomic():
        item = Item.objects.select_for_update().filter(pk=item_id).first()
        if item is None:
            return False
        ItemEmbedding.objects.filter(item_id=item_id, model_key=model_key).delete()
        ItemEmbedding.objects.bulk_create(
            ItemEmbedding(
                item_id=item_id,
                model_key=model_key,
                segment=index,
                start_sec=embedding.start_sec,
                end_sec=embedding.end_sec,
                modality=item.modality,
                hidden=item.hidden,
                tags=item.tags,
                embedding=embedding.vector,
            )
            for index, embedding in enumerate(embeddings)
        )
        if thumbnail_name:
            item.thumbnail.name = thumbnail_name
        item.status = Status.READY
        item.error_message = ""
        item.embedded_with = model_key
        item.save(
            update_fields=["status", "error_message", "embedded_with", "thumbnail", "updated_at"]
        )
    return True
