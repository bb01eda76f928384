from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from functools import partial
from pathlib import Path

from django.db import connection, transaction
from django.db.models.functions import Now
from django.utils import timezone
from psycopg import sql

from embeddings.conf import BATCH_SIZE, embeddings_settings
from embeddings.engine.base import ModelUnavailable
from embeddings.engine.registry import get_model
from embeddings.errors import InputError
from embeddings.media.video import poster_frame
from embeddings.services import (
    Embedding,
    VideoOption,
    embed_clip,
    embed_images,
    embed_texts,
    embed_video_file,
    prepare_audio,
    prepare_image,
    prepare_text,
    prepare_video,
)
from embeddings.spaces import VectorSpace, configured_space
from searchapp import conf
from searchapp.models import Item, ItemEmbedding, Modality, Status
from searchapp.search.search_model import embedding_model_key, forget_search_model
from searchapp.search.vector_index import ensure_vector_index
from searchapp.services.duplicates import duplicates_find
from searchapp.services.jobs import ItemLease, items_wait_for_model
from searchapp.services.media import MediaFacts, renditions_make
from searchapp.waveforms import PeakEnvelope

logger = logging.getLogger(__name__)

# A library video is found by what it shows and by what it sounds like.
VIDEO_ITEM_OPTIONS: tuple[VideoOption, ...] = ("visual", "audio")


def item_embed(*, item_id: int, queued_at: datetime | None = None) -> None:
    """Compute and store the item's vectors with the configured model, all or nothing.

    Input the model cannot use fails the item with the reason; a model that cannot be loaded
    leaves the items waiting for it; anything else raises, and the task retries it. Vectors
    made since `queued_at` (by a batch) are not made again.
    """
    item = Item.objects.filter(pk=item_id).first()
    if item is None or _embedded_since(item, queued_at):
        return
    with ItemLease() as lease:
        lease.hold([item_id])
        Item.objects.filter(pk=item_id).exclude(status=Status.READY).update(
            status=Status.PROCESSING, heartbeat_at=Now(), updated_at=timezone.now()
        )
        try:
            if item.modality == Modality.TEXT:
                _texts_embed(first=item, lease=lease)
            else:
                _media_embed(item)
        except ModelUnavailable as error:
            items_wait_for_model(lease.held)
            logger.warning("Items %s wait for the embedding model: %s", lease.held, error)


def item_fail(*, item_id: int, reason: str) -> None:
    Item.objects.filter(pk=item_id).update(
        status=Status.FAILED, error_message=reason[:2000], updated_at=timezone.now()
    )


def _media_embed(item: Item) -> None:
    try:
        if item.modality == Modality.VIDEO:
            embeddings, facts = _embed_video(item)
        else:
            with item.file.open("rb") as stored_file:
                data = stored_file.read()
            if item.modality == Modality.IMAGE:
                embeddings, facts = _embed_image(item, data)
            else:
                embeddings, facts = _embed_audio(data)
    except InputError as error:
        item_fail(item_id=item.pk, reason=str(error))
        return
    model_key = embedding_model_key()
    ensure_vector_index(model_key=model_key, dimension=len(embeddings[0].vector))
    stored = False
    try:
        stored = _store_embeddings(
            item_id=item.pk, model_key=model_key, embeddings=embeddings, facts=facts
        )
    finally:
        if not stored:
            facts.discard(item)
    if stored:
        _find_duplicates_once_committed(item_ids=[item.pk], model_key=model_key)


def _embedded_since(item: Item, queued_at: datetime | None) -> bool:
    return (
        queued_at is not None
        and item.status == Status.READY
        and item.embedded_with == embedding_model_key()
        and item.embedded_at is not None
        and item.embedded_at >= queued_at
    )


def _texts_embed(*, first: Item, lease: ItemLease) -> None:
    """Embed the text item with other queued text items in one batch, which is several times
    faster per item than one at a time (docs/performance.md)."""
    others = _claim_queued_texts(exclude_id=first.pk, limit=BATCH_SIZE.value() - 1)
    lease.hold([item.pk for item in others])
    items = [first, *others]
    model, config = get_model(), embeddings_settings()
    prepared: list[tuple[Item, str]] = []
    for item in items:
        try:
            prepared.append(
                (item, prepare_text(item.text, truncate="end", model=model, config=config))
            )
        except InputError as error:
            item_fail(item_id=item.pk, reason=str(error))
    if not prepared:
        return
    embeddings = embed_texts([text for _, text in prepared], model=model)
    model_key = embedding_model_key()
    ensure_vector_index(model_key=model_key, dimension=len(embeddings[0].vector))
    with transaction.atomic():  # one commit for the batch
        stored = [
            item.pk
            for (item, _), embedding in zip(prepared, embeddings, strict=True)
            if _store_embeddings(item_id=item.pk, model_key=model_key, embeddings=[embedding])
        ]
        _find_duplicates_once_committed(item_ids=stored, model_key=model_key)


def _claim_queued_texts(*, exclude_id: int, limit: int) -> list[Item]:
    """Queued text items no other worker is taking; their own jobs then find them done."""
    with transaction.atomic():
        ids = list(
            Item.objects.select_for_update(skip_locked=True)
            .filter(modality=Modality.TEXT, status=Status.PENDING)
            .exclude(pk=exclude_id)
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        Item.objects.filter(pk__in=ids).update(
            status=Status.PROCESSING, heartbeat_at=Now(), updated_at=timezone.now()
        )
    return list(Item.objects.filter(pk__in=ids).order_by("pk"))


def _embed_image(item: Item, data: bytes) -> tuple[list[Embedding], MediaFacts]:
    """The image's vector, and its renditions from the same decoding."""
    model = get_model()
    image = prepare_image(data, config=embeddings_settings())
    facts = renditions_make(item, image)
    try:
        return embed_images([image], model=model, space=configured_space()), facts
    except BaseException:
        facts.discard(item)
        raise


def _embed_audio(data: bytes) -> tuple[list[Embedding], MediaFacts]:
    """The clip's vectors, and its waveform and length from the same decoding."""
    model, config = get_model(), embeddings_settings()
    clip = prepare_audio(data, start_offset_sec=0.0, model=model, config=config)
    envelope = PeakEnvelope(length=clip.length)
    embeddings = embed_clip(clip, model=model, config=config, on_segment=envelope.add)
    return embeddings, MediaFacts(waveform=envelope.levels(), duration_sec=clip.duration_sec)


def _embed_video(item: Item) -> tuple[list[Embedding], MediaFacts]:
    """Each clip's vectors (its frames, then its sound if it has any), decoded from the stored
    file a clip at a time; the poster frame is the thumbnail."""
    model, config = get_model(), embeddings_settings()
    path = Path(item.file.path)
    video = prepare_video(path, model=model, config=config)
    embeddings = embed_video_file(
        video,
        options=VIDEO_ITEM_OPTIONS,
        model=model,
        config=config,
        space=configured_space(),
    )
    facts = replace(
        renditions_make(item, poster_frame(path, limits=config.video_limits)),
        duration_sec=video.duration_sec,
        size=(video.width, video.height),
    )
    return list(embeddings), facts


def _store_embeddings(
    *,
    item_id: int,
    model_key: str,
    embeddings: list[Embedding],
    facts: MediaFacts | None = None,
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
        media_fields = facts.apply(item) if facts else []
        item.status = Status.READY
        item.error_message = ""
        item.lost_jobs = 0
        item.embedded_with = model_key
        item.embedded_at = timezone.now()
        item.save(
            update_fields=[
                "status",
                "error_message",
                "lost_jobs",
                "embedded_with",
                "embedded_at",
                *media_fields,
                "updated_at",
            ]
        )
        transaction.on_commit(forget_search_model)
    return True


def _find_duplicates_once_committed(*, item_ids: list[int], model_key: str) -> None:
    # After the commit, so of two copies stored at once by two workers, the later to commit
    # sees the other; one look-up for a whole text batch.
    transaction.on_commit(
        partial(
            duplicates_find,
            item_ids=item_ids,
            model_key=model_key,
            min_score=conf.SEARCH_DUPLICATE_MIN_SCORE.value(),
        )
    )


def vectors_carry_over(*, from_key: str, to_key: str) -> int:
    """Copy the vectors from `from_key` to `to_key` of the items whose vectors the difference
    does not change: with the same model, text and audio always, images when the image-token
    budget is the same, videos when their frame rate and frame tokens are; returns how many
    items were carried over (they then need no re-embedding)."""
    kept = _modalities_unchanged(VectorSpace.from_key(from_key), VectorSpace.from_key(to_key))
    if from_key == to_key or not kept:
        return 0
    sample = ItemEmbedding.objects.filter(model_key=from_key).first()
    if sample is None:
        return 0
    ensure_vector_index(model_key=to_key, dimension=len(sample.embedding))
    carried = (
        Item.objects.filter(modality__in=kept)
        .filter(pk__in=ItemEmbedding.objects.filter(model_key=from_key).values("item_id"))
        .exclude(pk__in=ItemEmbedding.objects.filter(model_key=to_key).values("item_id"))
    )
    copied = [
        field.column
        for field in ItemEmbedding._meta.concrete_fields
        if field.column is not None and field.column not in ("id", "model_key")
    ]
    statement = sql.SQL(
        "INSERT INTO {table} (model_key, {columns}) SELECT %s, {columns} FROM {table} "
        "WHERE model_key = %s AND item_id = ANY(%s)"
    ).format(
        table=sql.Identifier(ItemEmbedding._meta.db_table),
        columns=sql.SQL(", ").join(map(sql.Identifier, copied)),
    )
    with transaction.atomic(), connection.cursor() as cursor:
        ids = list(carried.select_for_update().values_list("pk", flat=True))
        cursor.execute(statement.as_string(cursor.connection), [to_key, from_key, ids])
        Item.objects.filter(pk__in=ids).update(embedded_with=to_key)
        transaction.on_commit(forget_search_model)
    return len(ids)


def _modalities_unchanged(old: VectorSpace, new: VectorSpace) -> list[Modality]:
    if old.source != new.source:
        return []
    kept = [Modality.TEXT, Modality.AUDIO]
    if old.image_tokens == new.image_tokens:
        kept.append(Modality.IMAGE)
    if (old.video_frame_tokens, old.video_fps) == (new.video_frame_tokens, new.video_fps):
        kept.append(Modality.VIDEO)
    return kept
