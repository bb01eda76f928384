"""What the task queue holds, for the sweeps that queue lost work again: django-tasks-db keeps
jobs in a table the sweeps query; on RQ (django-tasks-rq) they are read from Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Field, Q, QuerySet
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Now
from django.utils import timezone
from django_tasks import task_backends


def queues_on_rq() -> bool:
    """Whether tasks queue on Redis through RQ (TASKS_BACKEND), not in the database."""
    return type(task_backends["default"]).__module__.startswith("django_tasks_rq")


def first_args_of_jobs(
    task_path: str, *, lease: timedelta, output_field: Field[Any, Any]
) -> QuerySet[Any] | set[Any]:
    """The first argument, as `output_field` holds it, of each job of the task that is queued,
    waiting for a retry, or started within the lease (a started job takes its hold at once):
    a query over django-tasks-db's table, or what RQ's registries hold on Redis."""
    if queues_on_rq():
        since = timezone.now() - lease
        return {output_field.to_python(arg) for arg in _rq_first_args(task_path, since=since)}
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    return (
        DBTaskResult.objects.filter(task_path=task_path)
        .filter(
            Q(status=TaskResultStatus.READY)
            | Q(status=TaskResultStatus.RUNNING, started_at__gte=Now() - lease)
        )
        .annotate(first_arg=Cast(KT("args_kwargs__args__0"), output_field))
        .exclude(first_arg=None)
        .values("first_arg")
    )


def _rq_first_args(task_path: str, *, since: datetime) -> list[object]:
    from django_rq import get_queue
    from rq.job import Job
    from rq.registry import ScheduledJobRegistry, StartedJobRegistry

    queue = get_queue("default")
    ids = [
        *queue.get_job_ids(),
        *ScheduledJobRegistry(queue=queue).get_job_ids(),  # type: ignore[no-untyped-call]
        *StartedJobRegistry(queue=queue).get_job_ids(),
    ]
    return [
        job.args[0]
        for job in Job.fetch_many(ids, connection=queue.connection)
        if job is not None
        and job.func_name == task_path
        and job.args
        and (job.started_at is None or _aware(job.started_at) >= since)
    ]


def _aware(moment: datetime) -> datetime:
    # RQ keeps UTC, with or without saying so.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
