from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from django.db import connection

from bench.media_factory import make_audio
from bench.processes import Processes, wait_for
from searchapp.models import Item, Status
from searchapp.services.items import item_add_file, item_add_text

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def call(base: str, path: str, api_key: str, fields: dict[str, str] | None = None) -> Any:
    body = None if fields is None else "&".join(f"{k}={v}" for k, v in fields.items()).encode()
    request = urllib.request.Request(f"{base}{path}", data=body, headers={"x-api-key": api_key})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def cut_idle_connections(application: str) -> int:
    # What a database restart does to the connections a process keeps between requests or
    # jobs; a query running at that moment would fail in a real restart too, so only idle
    # connections are cut, and which request fails does not depend on timing.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = %s AND state = 'idle'",
            [application],
        )
        (count,) = cursor.fetchone()
    return int(count)


def connected(application: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = %s",
            [application],
        )
        (count,) = cursor.fetchone()
    return count > 0


@contextmanager
def database_refusing_connections() -> Iterator[None]:
    # As while the database restarts: existing connections stay, new ones are refused.
    # A database cannot refuse its own connections, so the switch goes through another one.
    name = connection.ops.quote_name(connection.settings_dict["NAME"])
    params = {**connection.get_connection_params(), "dbname": "postgres", "autocommit": True}
    with psycopg.connect(**params) as admin:
        admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
        try:
            yield
        finally:
            admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")


def ready(item_id: int) -> bool:
    return Item.objects.get(pk=item_id).status == Status.READY


def test_web_and_worker_carry_on_after_their_database_connections_are_cut(
    processes: Processes, api_key: str
) -> None:
    worker = processes.worker()
    web, base = processes.web()
    first = call(base, "/api/items", api_key, {"text": "lighthouse"})
    wait_for(lambda: ready(first["id"]), seconds=60)

    for round_ in range(3):
        # Both processes keep their connections between requests and jobs (CONN_MAX_AGE).
        assert cut_idle_connections("web") >= 1
        wait_for(lambda: cut_idle_connections("worker") >= 1, seconds=30)

        results = call(base, "/api/search", api_key, {"text": "lighthouse"})["results"]
        added = call(base, "/api/items", api_key, {"text": f"harbour {round_}"})
        wait_for(lambda: ready(added["id"]), seconds=60)  # noqa: B023

        assert first["id"] in [hit["id"] for hit in results]
        assert urllib.request.urlopen(f"{base}/?q=harbour", timeout=60).status == 200
    assert worker.poll() is None and web.poll() is None


def test_the_worker_waits_for_a_database_that_refuses_connections_for_a_while(
    processes: Processes,
) -> None:
    worker = processes.worker()
    wait_for(lambda: connected("worker"), seconds=60)

    def worker_waits() -> bool:
        assert worker.poll() is None, processes.output(worker)
        return "The database refused a connection; retrying" in processes.output(worker)

    with database_refusing_connections():
        wait_for(lambda: cut_idle_connections("worker") >= 1, seconds=30)
        wait_for(worker_waits, seconds=30)
    item, _ = item_add_text(text="back again")

    wait_for(lambda: ready(item.pk), seconds=60)
    assert worker.poll() is None


def test_a_job_cut_off_by_an_outage_longer_than_the_retry_window_runs_again(
    processes: Processes,
) -> None:
    item, _ = item_add_file(data=make_audio("flac", seconds=120.0), filename="long.flac")
    worker = processes.worker(DATABASE_CONNECT_RETRY_SEC="1", EMBEDDING_JOB_LEASE_SEC="3")
    wait_for(lambda: Item.objects.get(pk=item.pk).status == Status.PROCESSING, seconds=60)

    def gave_up_reconnecting() -> bool:
        lines = processes.output(worker).splitlines()
        return any(
            "Could not renew" in line and "not currently accepting" in line for line in lines
        )

    with database_refusing_connections():
        wait_for(lambda: cut_idle_connections("worker") >= 1, seconds=30)
        wait_for(gave_up_reconnecting, seconds=30)

    wait_for(lambda: ready(item.pk), seconds=120)
    assert worker.poll() is None
    assert "Queued 1 items again whose job was lost" in processes.output(worker)
    assert Item.objects.get(pk=item.pk).embeddings.count() == 12
