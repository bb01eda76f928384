from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import User
from django.contrib.postgres.search import SearchVector
from django.core.files.base import ContentFile
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F, Func, QuerySet, TextField, Value
from django.utils import timezone

from embeddings.errors import InputError
from searchapp.access import can_open
from searchapp.media_info import probe_media
from searchapp.models import Item, ItemEmbedding, Modality, Status, Tag
from searchapp.services.jobs import enqueue_embeddings

MAX_TAGS = 32
# Longer text would not fit PostgreSQL's word index (1 MB per item).
MAX_TEXT_CHARACTERS = 20_000
MAX_DESCRIPTION_CHARACTERS = 5_000


class HiddenDuplicate(InputError):
    """The content is in the library already, as an item the caller may not open (hidden)."""

    status = 409
    code = "resource_conflict"


@dataclass(frozen=True, kw_only=True)
class ItemDetails:
    title: str = ""
    description: str = ""
    tags: Sequence[str] = ()
    source_url: str = ""


def storable(text: str) -> str:
    # PostgreSQL text cannot hold NUL characters, and they carry no meaning in a title or note.
    return text.replace("\x00", "")


def clean_tags(tags: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for tag in tags:
        cleaned = " ".join(storable(tag).strip().lower().split())[:64]
        if cleaned:
            seen.setdefault(cleaned, None)
    return list(seen)[:MAX_TAGS]


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def item_add_file(
    *,
    data: bytes,
    filename: str,
    details: ItemDetails = ItemDetails(),
    added_by: User | None = None,
) -> tuple[Item, bool]:
    """Store an uploaded file as an item and queue its embedding: (item, created).

    Content already in the library gives its item (a failed one is tried again), unless the
    uploader may not open it (hidden; searchapp/access.py): then HiddenDuplicate, which says
    nothing of the item.
    """
    if not data:
        raise InputError("the file is empty.")
    _refuse_too_long(details.description, name="description", limit=MAX_DESCRIPTION_CHARACTERS)
    digest = content_hash(data)
    existing = _existing(digest, added_by=added_by)
    if existing is not None:
        return existing, False
    info = probe_media(data)
    item = Item(
        modality=info.modality,
        original_filename=storable(filename)[:255],
        content_hash=digest,
        mime_type=info.mime_type,
        size_bytes=len(data),
        width=info.width,
        height=info.height,
        duration_sec=info.duration_sec,
        added_by=added_by,
        **_details_fields(details),
    )
    item.file.save(_storage_name(digest, filename), ContentFile(data), save=False)
    return _insert_or_discard(item, added_by=added_by)


def item_add_text(
    *,
    text: str,
    details: ItemDetails = ItemDetails(),
    added_by: User | None = None,
) -> tuple[Item, bool]:
    """A text note as an item, as `item_add_file` stores a file."""
    text = storable(text).strip()
    if not text:
        raise InputError("the text is empty.")
    _refuse_too_long(text, name="text", limit=MAX_TEXT_CHARACTERS)
    _refuse_too_long(details.description, name="description", limit=MAX_DESCRIPTION_CHARACTERS)
    digest = content_hash(b"text:" + text.encode())
    existing = _existing(digest, added_by=added_by)
    if existing is not None:
        return existing, False
    item = Item(
        modality=Modality.TEXT,
        text=text,
        content_hash=digest,
        mime_type="text/plain",
        size_bytes=len(text.encode()),
        added_by=added_by,
        **_details_fields(details),
    )
    return _insert_or_discard(item, added_by=added_by)


def _existing(digest: str, *, added_by: AbstractBaseUser | None) -> Item | None:
    existing = Item.objects.filter(content_hash=digest).first()
    if existing is None:
        return None
    if not can_open(added_by, existing):
        raise HiddenDuplicate(
            "this content is already in the library but is not available; it cannot be added again."
        )
    if item_retry(item=existing):
        existing.refresh_from_db()
    return existing


def _refuse_too_long(value: str, *, name: str, limit: int) -> None:
    if len(value) > limit:
        raise InputError(f"the {name} is longer than {limit} characters.")


def _details_fields(details: ItemDetails) -> dict[str, object]:
    return {
        "title": storable(details.title).strip()[:255],
        "description": storable(details.description).strip(),
        "tags": clean_tags(details.tags),
        "source_url": storable(details.source_url).strip(),
    }


def _storage_name(digest: str, filename: str) -> str:
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"{digest[:16]}.{suffix[:8]}"


def _insert_or_discard(item: Item, *, added_by: AbstractBaseUser | None) -> tuple[Item, bool]:
    """Save the row and queue the embedding. A row that did not commit takes the stored file
    with it, and a racing twin wins; a committed row keeps it, queued or not."""
    try:
        with transaction.atomic():
            item.save()
            _tags_record(item.tags)
            _refresh_search_document(Item.objects.filter(pk=item.pk))
            transaction.on_commit(lambda: enqueue_embeddings([item.pk]))
    except IntegrityError:
        _delete_files(item)
        twin = _existing(item.content_hash, added_by=added_by)
        if twin is None:
            raise
        return twin, False
    except BaseException:
        if not _maybe_saved(item):
            _delete_files(item)
        raise
    return item, True


def _maybe_saved(item: Item) -> bool:
    if item.pk is None:
        return False
    try:
        return Item.objects.filter(pk=item.pk).exists()
    except DatabaseError:
        return True  # a commit cut off may still have happened; the database cannot say


def _refresh_search_document(items: QuerySet[Item]) -> None:
    items.update(
        search_document=SearchVector("title", _name_words("title"), weight="A", config="english")
        + SearchVector(
            Func(F("tags"), Value(" "), function="array_to_string", output_field=TextField()),
            weight="A",
            config="english",
        )
        + SearchVector(
            "original_filename",
            _name_words("original_filename"),
            "description",
            weight="B",
            config="english",
        )
        + SearchVector("text", weight="C", config="english")
    )


def _name_words(field: str) -> Func:
    # The words inside a name, which the parser reads as one lexeme ("coffee.png"): split at
    # separators, camelCase and digits (IMG_2041-harbourSeals.jpg: IMG 2041 harbour Seals jpg).
    # The function is created by migration 0009_file_name_words.
    return Func(F(field), function="searchapp_name_words", output_field=TextField())


def item_update_details(*, item: Item, details: ItemDetails) -> Item:
    tags_before = list(item.tags)
    for name, value in _details_fields(details).items():
        setattr(item, name, value)
    with transaction.atomic():
        item.save()
        item.embeddings.update(tags=item.tags)
        _tags_record(item.tags)
        _tags_forget_unused(set(tags_before) - set(item.tags))
        _refresh_search_document(Item.objects.filter(pk=item.pk))
    return item


def _tags_record(names: Iterable[str]) -> None:
    Tag.objects.bulk_create([Tag(name=name) for name in names], ignore_conflicts=True)


def _tags_forget_unused(names: Iterable[str]) -> None:
    for name in names:
        if not Item.objects.filter(tags__contains=[name]).exists():
            Tag.objects.filter(name=name).delete()


def items_set_hidden(*, items: QuerySet[Item], hidden: bool, by_owner: bool = False) -> int:
    """Hide or show; `by_owner`: the uploader hides their own item, and may still open it
    (searchapp/access.py). A curator's hide is the default."""
    with transaction.atomic():
        ItemEmbedding.objects.filter(item__in=items).update(hidden=hidden)
        return items.update(
            hidden=hidden, hidden_by_owner=hidden and by_owner, updated_at=timezone.now()
        )


def items_add_tag(*, items: QuerySet[Item], tag: str) -> int:
    tags = clean_tags([tag])
    if not tags:
        raise InputError("the tag is empty.")
    (cleaned,) = tags
    changed = 0
    with transaction.atomic():
        for item in items.select_for_update():
            if cleaned not in item.tags:
                item.tags = [*item.tags, cleaned]
                item.save(update_fields=["tags", "updated_at"])
                item.embeddings.update(tags=item.tags)
                changed += 1
        _tags_record([cleaned])
        _refresh_search_document(items)
    return changed


def items_delete(*, items: QuerySet[Item]) -> int:
    doomed = list(items)
    with transaction.atomic():
        count, _ = Item.objects.filter(pk__in=[item.pk for item in doomed]).delete()
        _tags_forget_unused({tag for item in doomed for tag in item.tags})
        # Files go only once the rows are surely gone.
        transaction.on_commit(lambda: _delete_files_of(doomed))
    return count


def _delete_files_of(items: list[Item]) -> None:
    for item in items:
        _delete_files(item)


def _delete_files(item: Item) -> None:
    for field in (item.file, item.thumbnail, item.preview):
        if field.name:
            field.storage.delete(field.name)


def item_retry(*, item: Item) -> bool:
    """Queue a failed item again, its attempts counted afresh; False if it had not failed."""
    return items_reembed(items=Item.objects.filter(pk=item.pk, status=Status.FAILED)) > 0


def items_reembed(*, items: QuerySet[Item]) -> int:
    """Queue new vectors; ready items stay searchable on their current ones meanwhile."""
    ids = list(items.values_list("pk", flat=True))
    with transaction.atomic():
        Item.objects.filter(pk__in=ids).exclude(status=Status.READY).update(
            status=Status.PENDING, error_message="", updated_at=timezone.now()
        )
        Item.objects.filter(pk__in=ids).update(lost_jobs=0)
        transaction.on_commit(lambda: enqueue_embeddings(ids))
    return len(ids)
