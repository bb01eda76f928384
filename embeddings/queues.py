"""What the task queue holds, for the sweeps that queue lost work again: django-tasks-db keeps
jobs in a table the sweeps query; on RQ (django-tasks-rq) they are read from Redis."""

from __future__ import annotations

from datetime import UTC, datetime

from django_tasks import task_backends


def queues_on_rq() -> bool:
    """Whether tasks queue on Redis through RQ (TASKS_BACKEND), not in the database."""
    return type(task_backends["default"]).__module__.startswith("django_tasks_rq")


def rq_jobs_first_args(task_path: str, *, started_since: datetime) -> set[str]:
    """The first argument of each RQ job of the task that is queued, waiting for a retry, or
    started since `started_since` (a started job takes its hold at once)."""
    from django_rq import get_queue
    from rq.job import Job
    from rq.registry import ScheduledJobRegistry, StartedJobRegistry

    queue = get_queue("default")
    ids = [
        *queue.get_job_ids(),
        *ScheduledJobRegistry(queue=queue).get_job_ids(),  # type: ignore[no-untyped-call]
        *StartedJobRegistry(queue=queue).get_job_ids(),
    ]
    return {
        str(job.args[0])
        for job in Job.fetch_many(ids, connection=queue.connection)
        if job is not None
        and job.func_name == task_path
        and job.args
        and (job.started_at is None or _aware(job.started_at) >= started_since)
    }


def _aware(moment: datetime) -> datetime:
    # RQ keeps UTC, with or without saying so.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
