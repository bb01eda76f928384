from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from bench.media_factory import make_image
from embeddings.keys import api_key_create
from tests.embeddings.test_api_embed import assert_error, post
from tests.embeddings.test_fetch import serving

# Requests run on several threads at once, each with its own database connection.
pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class HeldImages:
    """Serves /held.png only once `release` is set, and /quick.png at once."""

    base: str
    arrived: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    release: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def images(settings) -> Iterator[HeldImages]:  # type: ignore[no-untyped-def]
    png = make_image("png")
    settings.EMBEDDINGS_URL_ALLOWLIST = ["127.0.0.1"]
    with contextmanager(serving)() as server:
        held = HeldImages(base=server.base)
        server.body("/quick.png", png)

        def held_image(handler: BaseHTTPRequestHandler) -> None:
            held.arrived.release()
            held.release.wait(30)
            server.routes["/quick.png"](handler)

        server.routes["/held.png"] = held_image
        try:
            yield held
        finally:
            held.release.set()


@pytest.fixture
def background() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        yield pool


def key_client() -> Client:
    return Client(headers={"x-api-key": api_key_create(name="client")[1]})


def post_in_thread(client: Client, **fields: Any) -> Any:
    try:
        return post(client, **fields)
    finally:
        connection.close()


def hold_fetches(
    images: HeldImages, pool: ThreadPoolExecutor, clients: list[Client]
) -> list[Future[Any]]:
    """One /embed call per client whose URL fetch stays running until images.release is set."""
    url = f"{images.base}/held.png"
    running = [pool.submit(post_in_thread, client, image_url=url) for client in clients]
    for _ in clients:
        assert images.arrived.acquire(timeout=30)
    return running


def test_embed_url_fetch_over_the_per_key_bound_is_refused_at_once(
    settings, images: HeldImages, background: ThreadPoolExecutor
) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_FETCH_MAX_CONCURRENT_PER_KEY = 1
    busy, other = key_client(), key_client()
    (running,) = hold_fetches(images, background, [busy])

    # Answered while the key's first fetch is still held: refused, not queued.
    refused = post(busy, image_url=f"{images.base}/quick.png")
    from_another_key = post(other, image_url=f"{images.base}/quick.png")
    images.release.set()

    assert_error(refused, 429, "too_many_requests", "1 URL fetches", "with this key")
    assert refused["Retry-After"] == "1"
    assert from_another_key.status_code == 200
    assert running.result(timeout=60).status_code == 200
    assert post(busy, image_url=f"{images.base}/quick.png").status_code == 200


def test_embed_url_fetch_over_the_server_bound_is_refused_for_every_key(
    settings, images: HeldImages, background: ThreadPoolExecutor
) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_FETCH_MAX_CONCURRENT = 2
    running = hold_fetches(images, background, [key_client(), key_client()])

    refused = post(key_client(), image_url=f"{images.base}/quick.png")
    with_a_file = post(key_client(), text="still served")
    images.release.set()

    assert_error(refused, 429, "too_many_requests", "2 URL fetches", "on this server")
    assert with_a_file.status_code == 200
    assert [future.result(timeout=60).status_code for future in running] == [200, 200]
