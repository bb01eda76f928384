from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
from django.core.files import File
from django.db import DatabaseError, close_old_connections, connection, connections, transaction
from django.db.models import F, QuerySet, TextField
from django.db.models.functions import Now
from django.utils import timezone

from embeddings.conf import EmbeddingsSettings, embeddings_settings
from embeddings.engine.base import EmbeddingModel
from embeddings.engine.registry import get_model
from embeddings.errors import InputError
from embeddings.fetch import fetch_url
from embeddings.models import ApiKey, EmbedTask, EmbedTaskSegment
from embeddings.queues import first_args_of_jobs
from embeddings.services import (
    VideoEmbedding,
    VideoOption,
    VideoScope,
    embed_clip,
    embed_video_file,
    mean_embedding,
    prepare_audio,
    prepare_video,
)
from embeddings.spaces import configured_space

logger = logging.getLogger(__name__)

TaskApi = Literal["v1", "v2"]
TaskInputType = Literal["video", "audio"]
# The sweep runs this many times per lease, and a running task renews its hold as often, so
# several renewals can fail (a database restart) before a live task looks lost.
RENEWALS_PER_LEASE = 9
# A task whose runs keep losing their worker (an input that runs it out of memory, say) fails
# after this many instead of taking workers down for good.
MAX_LOST_JOBS = 3
LOST_JOBS_REASON = (
    f"The embedding task could not complete processing: its worker stopped {MAX_LOST_JOBS} times "
    "before it finished (perhaps running out of memory on this file)."
)
# TwelveLabs' words for a failure that is not the input's fault; the detail goes to the log.
SERVER_ERROR_REASON = "The embedding task failed. Please try again later."


@dataclass(frozen=True, kw_only=True)
class TaskMedia:
    """Where a task's media comes from: a URL the worker fetches, or a file stored now."""

    url: str | None = None
    file: File[Any] | None = None
    filename: str = ""


@dataclass(frozen=True, kw_only=True)
class TaskRequest:
    api: TaskApi
    input_type: TaskInputType
    model_name: str
    media: TaskMedia
    start_sec: float = 0.0
    end_sec: float | None = None
    clip_sec: float
    options: tuple[VideoOption, ...]
    scopes: tuple[VideoScope, ...]


class TasksInFlightFull(Exception):
    def __init__(self, *, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


def embed_task_create(
    *, request: TaskRequest, api_key: ApiKey | None, config: EmbeddingsSettings
) -> EmbedTask:
    """Store the task and its media and queue it once committed. Unfinished tasks per key are
    bounded: each holds a stored file of up to the upload limit and minutes of worker time."""
    task = EmbedTask(
        api=request.api,
        api_key=api_key,
        input_type=request.input_type,
        model_name=request.model_name,
        input_url=request.media.url or "",
        input_filename=request.media.filename,
        start_sec=request.start_sec,
        end_sec=request.end_sec,
        clip_sec=request.clip_sec,
        options=list(request.options),
        scopes=list(request.scopes),
    )
    try:
        with transaction.atomic():
            _lock_tasks_of(api_key)
            in_flight = EmbedTask.objects.filter(
                api_key=api_key, status=EmbedTask.Status.PROCESSING
            ).count()
            if in_flight >= config.tasks_in_flight_per_key:
                raise TasksInFlightFull(limit=config.tasks_in_flight_per_key)
            if request.media.file is not None:
                task.media.save(task.id, request.media.file, save=False)
            task.save(force_insert=True)
            transaction.on_commit(partial(_enqueue, [task.id]))
    except BaseException:
        if task.media:  # stored for a row that was never committed
            task.media.delete(save=False)
        raise
    return task


def embed_task_run(*, task_id: str) -> None:
    """Embed the task's media and store the vectors, all or nothing. Input the model cannot use
    fails the task with the reason; anything else raises, for the caller to retry."""
    task = EmbedTask.objects.filter(pk=task_id, status=EmbedTask.Status.PROCESSING).first()
    if task is None:  # finished by an earlier run, or purged
        return
    config = embeddings_settings()
    with _held(task_id, config=config):
        try:
            duration_sec, embeddings = _embed(task, _media(task, config=config), config)
        except InputError as error:
            embed_task_fail(task_id=task_id, reason=str(error))
            return
        with transaction.atomic():
            EmbedTaskSegment.objects.filter(task_id=task_id).delete()
            EmbedTaskSegment.objects.bulk_create(
                EmbedTaskSegment(
                    task_id=task_id,
                    option=embedding.option,
                    scope=embedding.scope,
                    start_sec=embedding.start_sec or 0.0,
                    end_sec=embedding.end_sec or 0.0,
                    vector=np.asarray(embedding.vector, dtype="<f4").tobytes(),
                )
                for embedding in embeddings
            )
            _finish(task_id, status=EmbedTask.Status.READY, duration_sec=duration_sec)


def embed_task_fail(*, task_id: str, reason: str) -> None:
    with transaction.atomic():
        _finish(task_id, status=EmbedTask.Status.FAILED, error_message=reason[:2000])


def embed_tasks_requeue_lost(*, config: EmbeddingsSettings | None = None) -> int:
    """Queue again the tasks whose run was lost: processing with a hold older than the lease
    (the worker was killed, or cut off from the database mid-run), or never started with no job
    in the queue (queueing failed after the task was stored)."""
    config = config or embeddings_settings()
    cutoff = Now() - timedelta(seconds=config.task_lease_sec)  # the database's clock
    processing = EmbedTask.objects.select_for_update(skip_locked=True).filter(
        status=EmbedTask.Status.PROCESSING
    )
    with transaction.atomic():
        interrupted = list(
            processing.filter(heartbeat_at__lt=cutoff).values_list("pk", "lost_jobs")
        )
        unqueued = list(
            processing.filter(heartbeat_at=None, updated_at__lt=cutoff)
            .exclude(pk__in=_tasks_with_a_job(lease=timedelta(seconds=config.task_lease_sec)))
            .values_list("pk", flat=True)
        )
        given_up = [pk for pk, lost_jobs in interrupted if lost_jobs + 1 >= MAX_LOST_JOBS]
        again = [pk for pk, _ in interrupted if pk not in given_up] + unqueued
        EmbedTask.objects.filter(pk__in=[pk for pk, _ in interrupted]).update(
            lost_jobs=F("lost_jobs") + 1
        )
        for task_id in given_up:
            _finish(task_id, status=EmbedTask.Status.FAILED, error_message=LOST_JOBS_REASON)
        EmbedTask.objects.filter(pk__in=again).update(heartbeat_at=None, updated_at=timezone.now())
        transaction.on_commit(partial(_enqueue, again))
    if again:
        logger.warning("Queued %s embedding tasks again whose run was lost: %s", len(again), again)
    return len(again)


def embed_tasks_purge(*, now: datetime | None = None, batch: int = 500) -> int:
    """Delete the tasks older than EMBEDDINGS_TASK_RETENTION_DAYS, with their files."""
    cutoff = (now or timezone.now()) - embeddings_settings().task_retention
    purged = 0
    while ids := list(
        EmbedTask.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:batch]
    ):
        tasks = EmbedTask.objects.filter(pk__in=ids)
        for task in tasks.exclude(media=""):
            task.media.delete(save=False)
        purged += tasks.delete()[1].get(EmbedTask._meta.label, 0)
    return purged


def task_lease_renewal_sec(config: EmbeddingsSettings) -> float:
    return config.task_lease_sec / RENEWALS_PER_LEASE


def _lock_tasks_of(api_key: ApiKey | None) -> None:
    # Serialises task creation per key until the transaction ends, so concurrent requests
    # cannot all pass the in-flight count.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext('embed-tasks'), %s)",
            [api_key.pk if api_key is not None else 0],
        )


def _enqueue(task_ids: Iterable[str]) -> None:
    from embeddings.tasks import run_embed_task

    for task_id in task_ids:
        try:
            run_embed_task.enqueue(task_id)
        except Exception:
            logger.exception(
                "Could not queue embedding task %s; the sweep queues it later", task_id
            )


def _finish(task_id: str, *, status: EmbedTask.Status, **fields: Any) -> None:
    """End the task and drop its media file, which nothing reads again (after the commit, so a
    rolled-back end keeps it)."""
    task = EmbedTask.objects.select_for_update().filter(pk=task_id).first()
    if task is None:
        return
    EmbedTask.objects.filter(pk=task_id).update(
        status=status, heartbeat_at=None, media="", updated_at=timezone.now(), **fields
    )
    if task.media.name:
        transaction.on_commit(partial(task.media.storage.delete, task.media.name))


def _media(task: EmbedTask, *, config: EmbeddingsSettings) -> bytes | Path:
    if task.input_url:
        return fetch_url(
            task.input_url,
            max_bytes=media_max_bytes(task.input_type, config=config),
            allowlist=config.url_allowlist,
            timeout_sec=config.fetch_timeout_sec,
            max_redirects=config.fetch_max_redirects,
        ).content
    try:
        # A video is decoded from the disk, not read into memory first.
        return Path(task.media.path)
    except NotImplementedError:  # a storage without local files (S3)
        with task.media.open("rb") as stored:
            data: bytes = stored.read()
        return data


def media_max_bytes(input_type: str, *, config: EmbeddingsSettings) -> int:
    return config.video_max_upload_bytes if input_type == "video" else config.max_upload_bytes


def _embed(
    task: EmbedTask, data: bytes | Path, config: EmbeddingsSettings
) -> tuple[float, list[VideoEmbedding]]:
    model = get_model()
    if task.input_type == EmbedTask.InputType.VIDEO:
        video = prepare_video(
            data, start_sec=task.start_sec, end_sec=task.end_sec, model=model, config=config
        )
        embeddings = embed_video_file(
            video,
            options=task.options,
            scopes=task.scopes,
            clip_sec=task.clip_sec,
            model=model,
            config=config,
            space=configured_space(),
        )
        return video.duration_sec, embeddings
    audio = data if isinstance(data, bytes) else data.read_bytes()
    return _embed_audio(task, audio, model=model, config=config)


def _embed_audio(
    task: EmbedTask, data: bytes, *, model: EmbeddingModel, config: EmbeddingsSettings
) -> tuple[float, list[VideoEmbedding]]:
    clip = prepare_audio(
        data, start_offset_sec=task.start_sec, cut_at_sec=task.end_sec, model=model, config=config
    )
    clips = embed_clip(clip, model=model, config=config, fixed_segment_sec=task.clip_sec)
    spans = [("clip", clip) for clip in clips] if "clip" in task.scopes else []
    if "asset" in task.scopes:
        spans.append(("asset", mean_embedding(clips)))
    return clip.duration_sec, [
        VideoEmbedding(
            embedding.vector,
            embedding.start_sec,
            embedding.end_sec,
            option="audio",
            scope=cast(VideoScope, scope),
        )
        for scope, embedding in spans
    ]


@contextmanager
def _held(task_id: str, *, config: EmbeddingsSettings) -> Iterator[None]:
    """The task's hold while it runs: renewed by a thread however long it runs, and given up
    when it raises, so the retry queued for it is not also taken up by the sweep."""
    held = EmbedTask.objects.filter(pk=task_id, status=EmbedTask.Status.PROCESSING)
    held.update(heartbeat_at=Now())
    stopped = threading.Event()

    def renew() -> None:
        try:
            while not stopped.wait(task_lease_renewal_sec(config)):
                try:
                    held.update(heartbeat_at=Now())
                except DatabaseError as error:
                    logger.warning("Could not renew embedding task %s: %s", task_id, error)
                    close_old_connections()
        finally:
            connections.close_all()  # this thread's

    renewer = threading.Thread(target=renew, name="embed-task-hold", daemon=True)
    renewer.start()
    failed = False
    try:
        yield
    except BaseException:
        failed = True
        raise
    finally:
        stopped.set()
        renewer.join()
        if failed:
            _hand_back(held, task_id)


def _hand_back(held: QuerySet[EmbedTask], task_id: str) -> None:
    # With the database gone this fails too, and the sweep finds the task after all.
    try:
        held.update(heartbeat_at=None, updated_at=timezone.now())
    except DatabaseError as error:
        logger.warning("Could not hand back embedding task %s: %s", task_id, error)


def _tasks_with_a_job(*, lease: timedelta) -> QuerySet[Any] | set[Any]:
    from embeddings.tasks import run_embed_task

    return first_args_of_jobs(run_embed_task.module_path, lease=lease, output_field=TextField())
