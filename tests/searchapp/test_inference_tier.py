"""The tiers as separate processes: an inference node (SERVER_ROLE=inference, no database) runs
the model; a web server and a worker with EMBEDDINGS_BACKEND=remote load none and send it
every model call."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import httpx
import pytest

from bench.media_factory import make_image
from bench.processes import Processes, wait_for
from embeddings.inference import wire
from embeddings.keys import api_key_create
from searchapp.models import Item, Status
from searchapp.services.items import item_add_file, item_add_text

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SECRET = "the-tiers-share-this"
NO_DATABASE = "postgresql://nobody@127.0.0.1:9/none?connect_timeout=1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_node(processes: Processes, port: int) -> None:
    processes.web(
        bind=f"127.0.0.1:{port}",
        ready_path="/inference/health",
        SERVER_ROLE="inference",
        EMBEDDINGS_INFERENCE_SECRET=SECRET,
        DATABASE_URL=NO_DATABASE,
    )


def loads_torch(pid: int) -> bool:
    """Whether the process, or one of its children (gunicorn's workers), has torch loaded."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return any("libtorch" in Path(f"/proc/{each}/maps").read_text() for each in [pid, *children])


def status(item: Item) -> Status:
    return Item.objects.get(pk=item.pk).status


def search(base: str, key: str, text: str) -> httpx.Response:
    return httpx.post(
        f"{base}/api/search",
        data={"text": text, "min_score": "-1"},
        headers={"x-api-key": key},
        timeout=120,
    )


def test_web_and_worker_embed_through_an_inference_node_and_carry_on_after_it_restarts(
    processes: Processes,
) -> None:
    port = free_port()
    start_node(processes, port)
    remote = {
        "EMBEDDINGS_BACKEND": "remote",
        "EMBEDDINGS_INFERENCE_URLS": f"http://127.0.0.1:{port}",
        "EMBEDDINGS_INFERENCE_SECRET": SECRET,
    }
    worker = processes.worker(**remote)
    web, base = processes.web(**remote)
    key = api_key_create(name="tier test")[1]

    note, _ = item_add_text(text="a lighthouse on a rocky coast at dusk")
    photo, _ = item_add_file(data=make_image("png", size=(320, 240)), filename="photo.png")
    wait_for(
        lambda: set(Item.objects.values_list("status", flat=True)) == {Status.READY},
        seconds=120,
    )
    found = search(base, key, "a lighthouse on a rocky coast at dusk")

    assert found.status_code == 200, found.text
    assert found.json()["results"][0]["id"] == note.pk
    assert photo.pk in {hit["id"] for hit in found.json()["results"]}
    # The remote tiers never loaded the model's code; the node did.
    assert not loads_torch(worker.pid)
    assert not loads_torch(web.pid)

    node = processes.started[0]
    os.killpg(node.pid, signal.SIGKILL)  # gunicorn's master and its worker
    node.wait()
    # Words still find words; a file cannot be searched without the model.
    words = search(base, key, "lighthouse")
    by_file = httpx.post(
        f"{base}/api/search",
        files={"image_file": ("q.png", make_image("png", size=(64, 64)))},
        headers={"x-api-key": key},
        timeout=120,
    )

    assert words.status_code == 200, words.text
    assert [hit["id"] for hit in words.json()["results"]] == [note.pk]
    assert "No inference node answered" in words.json()["warning"]
    assert by_file.status_code == 503
    assert by_file.json()["code"] == "model_unavailable"
    assert "No inference node answered" in by_file.json()["message"]

    # What is added meanwhile waits for the model, and is embedded once the node is back.
    later, _ = item_add_text(text="waves breaking at night")
    wait_for(lambda: status(later) == Status.WAITING, seconds=60)

    start_node(processes, port)
    wait_for(lambda: status(later) == Status.READY, seconds=120)
    again = search(base, key, "waves breaking at night")

    assert again.status_code == 200, again.text
    assert again.json()["results"][0]["id"] == later.pk


def test_an_inference_node_refuses_calls_without_the_secret_and_serves_no_library(
    processes: Processes,
) -> None:
    port = free_port()
    start_node(processes, port)
    base = f"http://127.0.0.1:{port}"

    no_secret = httpx.post(
        f"{base}/inference/v1/embed_texts", content=wire.encode({"texts": ["a"]})
    )
    library = httpx.get(f"{base}/")

    assert no_secret.status_code == 401
    assert library.status_code == 404
