from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.db.models import QuerySet
from django.utils import timezone

from embeddings.conf import EmbeddingsSettings
from embeddings.models import ApiKey, EmbedTask, EmbedTaskSegment
from embeddings.task_services import TaskApi


@dataclass(frozen=True, kw_only=True)
class TaskFilters:
    status: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class TaskPage:
    tasks: list[EmbedTask]
    page: int
    page_limit: int
    total: int

    @property
    def total_pages(self) -> int:
        return math.ceil(self.total / self.page_limit)


def embed_task_get(
    *, task_id: str, api: TaskApi, api_key: ApiKey | None, config: EmbeddingsSettings
) -> EmbedTask | None:
    return _visible(api=api, api_key=api_key, config=config).filter(pk=task_id).first()


def embed_tasks_page(
    *,
    api: TaskApi,
    api_key: ApiKey | None,
    filters: TaskFilters,
    page: int,
    page_limit: int,
    config: EmbeddingsSettings,
) -> TaskPage:
    """Newest first. A page past the last is empty, which is how TwelveLabs' SDK pagers stop."""
    tasks = _visible(api=api, api_key=api_key, config=config)
    if filters.status is not None:
        tasks = tasks.filter(status=filters.status)
    if filters.created_after is not None:
        tasks = tasks.filter(created_at__gte=filters.created_after)
    if filters.created_before is not None:
        tasks = tasks.filter(created_at__lte=filters.created_before)
    start = (page - 1) * page_limit
    return TaskPage(
        tasks=list(tasks.order_by("-created_at", "-pk")[start : start + page_limit]),
        page=page,
        page_limit=page_limit,
        total=tasks.count(),
    )


def embed_task_vectors(
    task: EmbedTask, *, options: Collection[str] | None = None
) -> list[tuple[EmbedTaskSegment, np.ndarray]]:
    """The task's segments in time order (clips, then assets), with their vectors."""
    segments = task.segments.all()
    if options is not None:
        segments = segments.filter(option__in=options)
    return [
        (segment, np.frombuffer(bytes(segment.vector), dtype="<f4"))
        for segment in segments.order_by("id")
    ]


def _visible(
    *, api: TaskApi, api_key: ApiKey | None, config: EmbeddingsSettings
) -> QuerySet[EmbedTask]:
    # Expired tasks are gone for clients at once, whenever the purge deletes them.
    return EmbedTask.objects.filter(
        api=api, api_key=api_key, created_at__gte=timezone.now() - config.task_retention
    )
