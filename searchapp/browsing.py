from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import QuerySet

from searchapp.models import Item, Status, Tag
from searchapp.search.selectors import SearchHit, SearchPage, visible_items


@dataclass(frozen=True, kw_only=True)
class BrowseFilters:
    modality: str | None = None
    tag: str | None = None
    added_by: str | None = None  # a user name


def library_items() -> QuerySet[Item]:
    """What the library shows: visible items that are ready (a pending one has nothing to
    show yet)."""
    return visible_items().filter(status=Status.READY)


def item_browse(*, filters: BrowseFilters, offset: int = 0, limit: int = 24) -> SearchPage:
    """The library newest first, filtered, as a page of hits without scores."""
    items = library_items()
    if filters.modality:
        items = items.filter(modality=filters.modality)
    if filters.tag:
        items = items.filter(tags__contains=[filters.tag])
    if filters.added_by:
        items = items.filter(added_by__username=filters.added_by)
    rows = list(items.order_by("-created_at", "-pk")[offset : offset + limit + 1])
    hits = [SearchHit(item_id=item.pk, item=item) for item in rows[:limit]]
    return SearchPage(hits=hits, has_more=len(rows) > limit)


def library_is_empty() -> bool:
    return not library_items().exists()


def library_uploaders() -> QuerySet[AbstractBaseUser]:
    """Users with items in the library, for the uploader filter."""
    return get_user_model().objects.filter(item__in=library_items()).distinct().order_by("username")


def library_tags(*, limit: int) -> list[str]:
    """The first tags by name that items have, from the tag list (not from every item)."""
    return list(Tag.objects.order_by("name").values_list("name", flat=True)[:limit])


# A loose index scan: each step is one probe of the item_embedded_with index for the next key,
# so the cost grows with the number of models, not of items.
EMBEDDING_MODEL_KEYS = """
WITH RECURSIVE model_keys(key) AS (
    (SELECT embedded_with FROM searchapp_item WHERE embedded_with > ''
     ORDER BY embedded_with LIMIT 1)
    UNION ALL
    SELECT (SELECT embedded_with FROM searchapp_item WHERE embedded_with > model_keys.key
            ORDER BY embedded_with LIMIT 1)
    FROM model_keys WHERE model_keys.key IS NOT NULL
)
SELECT key FROM model_keys WHERE key IS NOT NULL
"""


def embedding_model_keys() -> list[str]:
    """The models that items' current vectors come from, in order."""
    with connection.cursor() as cursor:
        cursor.execute(EMBEDDING_MODEL_KEYS)
        return [key for (key,) in cursor.fetchall()]
