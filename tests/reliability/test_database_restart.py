from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from django.db import connection

from searchapp.models import Item, Status
from tests.processes import Processes, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


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
