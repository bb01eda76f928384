from __future__ import annotations

import itertools
import json
import os
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
import pytest

from bench.media_factory import make_image
from bench.processes import Processes, wait_for
from searchapp.models import Item, Status

pytestmark = [pytest.mark.slow, pytest.mark.soak, pytest.mark.django_db(transaction=True)]

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "20"))
CLIENTS = 4
RESULTS = Path(__file__).resolve().parents[2] / "test-results" / "soak.json"
Action = Callable[[httpx.Client, int], httpx.Response]


def embed_text(client: httpx.Client, n: int) -> httpx.Response:
    return client.post("/v1.3/embed", data={"model_name": "embeddinggemma-2", "text": f"tide {n}"})


def embed_image(client: httpx.Client, n: int) -> httpx.Response:
    image = make_image("png", size=(40 + n % 17, 30))
    return client.post(
        "/v1.3/embed",
        data={"model_name": "embeddinggemma-2"},
        files={"image_file": ("query.png", image, "image/png")},
    )


def add_note(client: httpx.Client, n: int) -> httpx.Response:
    return client.post("/api/items", data={"text": f"harbour note {n}", "tags": "soak"})


def add_image(client: httpx.Client, n: int) -> httpx.Response:
    image = make_image("png", size=(16 + n % 400, 16 + n // 400 % 400))
    return client.post("/api/items", files={"file": (f"{n}.png", image, "image/png")})


def search_api(client: httpx.Client, n: int) -> httpx.Response:
    return client.post("/api/search", data={"text": f"harbour {n % 10}", "limit": "10"})


def search_page(client: httpx.Client, n: int) -> httpx.Response:
    return client.get("/", params={"q": f"note {n % 10}"}, headers={"HX-Request": "true"})


ACTIONS: list[Action] = [embed_text, embed_image, add_note, add_image, search_api, search_page]


def test_mixed_load_loses_nothing_answers_no_5xx_and_keeps_memory_flat(
    processes: Processes, api_key: str
) -> None:
    worker = processes.worker()
    web, base = processes.web(
        EMBEDDINGS_RATE_LIMIT_PER_MINUTE="0", SEARCH_RATE_LIMIT_PER_MINUTE="0"
    )
    (server,) = psutil.Process(web.pid).children()  # gunicorn's one worker process
    statuses: Counter[int] = Counter()
    added: set[int] = set()
    samples: list[tuple[float, int]] = []
    lock = threading.Lock()
    numbers = itertools.count()
    with httpx.Client(base_url=base, headers={"x-api-key": api_key}, timeout=120) as client:
        for action in ACTIONS:  # warm-up: the model and every code path loaded once
            assert action(client, next(numbers)).status_code < 300
    start = time.monotonic()
    stop = start + SOAK_SECONDS

    def run_client() -> None:
        with httpx.Client(base_url=base, headers={"x-api-key": api_key}, timeout=120) as client:
            for action in itertools.cycle(ACTIONS):
                if time.monotonic() >= stop:
                    return
                response = action(client, next(numbers))
                with lock:
                    statuses[response.status_code] += 1
                    if action in (add_note, add_image) and response.status_code < 300:
                        added.add(response.json()["id"])

    def sample_memory() -> None:
        while time.monotonic() < stop:
            samples.append((time.monotonic() - start, server.memory_info().rss))
            time.sleep(0.25)

    threads = [threading.Thread(target=run_client) for _ in range(CLIENTS)]
    threads.append(threading.Thread(target=sample_memory))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wait_for(
        lambda: Item.objects.filter(pk__in=added, status=Status.READY).count() == len(added),
        # The worker embeds about ten items a second on two cores; the load adds more.
        seconds=120 + 5 * SOAK_SECONDS,
    )

    quarter = len(samples) // 4
    first = statistics.median(rss for _, rss in samples[:quarter])
    last = statistics.median(rss for _, rss in samples[-quarter:])
    figures = {
        "seconds": SOAK_SECONDS,
        "clients": CLIENTS,
        "requests": sum(statuses.values()),
        "statuses": dict(statuses),
        "items_added": len(added),
        "drain_seconds": round(time.monotonic() - stop, 1),
        "rss_first_quarter_mb": round(first / 2**20, 1),
        "rss_last_quarter_mb": round(last / 2**20, 1),
        "rss_max_mb": round(max(rss for _, rss in samples) / 2**20, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2))
    print(figures)

    assert set(statuses) <= {200, 201}, figures
    assert Item.objects.filter(pk__in=added).count() == len(added) > 0
    assert last < 1.5 * first, figures
    assert worker.poll() is None and web.poll() is None
