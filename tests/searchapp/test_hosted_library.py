"""A library moved from the local model to a hosted one (EMBEDDINGS_BACKEND=twelvelabs) whose
vectors have another dimension, as real processes: the hosted API is this project's own Embed
API v2 on a server with another model; the library's web server and worker switch to it, and
`manage.py reembed` moves the library in the background while searches keep answering."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from bench.media_factory import make_audio, make_image
from bench.processes import Processes, wait_for
from bench.random_model import build_tiny_model
from embeddings.keys import api_key_create
from searchapp.models import Item, ItemEmbedding, Status
from searchapp.search.search_model import embedding_model_key
from searchapp.search.vector_index import index_name
from searchapp.services.items import item_add_file, item_add_text

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

HOSTED_DIMENSION = 24


def search(base: str, key: str, text: str, *, warning: bool = False) -> list[int]:
    response = httpx.post(
        f"{base}/api/search",
        data={"text": text, "min_score": "-1"},
        headers={"x-api-key": key},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    assert bool(response.json()["warning"]) == warning, response.json()["warning"]
    return [hit["id"] for hit in response.json()["results"]]


def search_by_photo(base: str, key: str) -> httpx.Response:
    return httpx.post(
        f"{base}/api/search",
        files={"image_file": ("query.png", make_image("png", size=(64, 64)))},
        headers={"x-api-key": key},
        timeout=120,
    )


def dimensions(model_key: str) -> dict[int, int]:
    """item id -> the dimension of its vectors under `model_key`."""
    return {
        embedding.item_id: len(embedding.embedding)
        for embedding in ItemEmbedding.objects.filter(model_key=model_key)
    }


def index_definition(model_key: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = %s", [index_name(model_key)]
        )
        row = cursor.fetchone()
    return str(row[0]) if row else ""


def test_a_library_moves_to_hosted_vectors_of_another_dimension_while_search_goes_on(
    processes: Processes, tmp_path: Path
) -> None:
    other_model = build_tiny_model(tmp_path / "other-model", seed=1, dimension=HOSTED_DIMENSION)
    api, api_base = processes.web(EMBEDDINGS_MODEL=str(other_model))
    key = api_key_create(name="library")[1]
    hosted = {
        "EMBEDDINGS_BACKEND": "twelvelabs",
        "EMBEDDINGS_REMOTE_URL": f"{api_base}/v1.3",
        "EMBEDDINGS_REMOTE_API_KEY": key,
    }

    local_worker = processes.worker()
    note, _ = item_add_text(text="a lighthouse on a rocky coast at dusk")
    photo, _ = item_add_file(data=make_image("png", size=(320, 240)), filename="photo.png")
    sound, _ = item_add_file(data=make_audio("wav", seconds=3.0), filename="tone.wav")
    items = {note.pk, photo.pk, sound.pk}
    wait_for(
        lambda: set(Item.objects.values_list("status", flat=True)) == {Status.READY}, seconds=120
    )
    local_key = embedding_model_key()
    local_worker.send_signal(signal.SIGTERM)
    local_worker.wait()

    # The library's tiers switch; until every item has hosted vectors, the local ones answer.
    processes.worker(**hosted)
    _, base = processes.web(**hosted)
    assert search(base, key, "a lighthouse on a rocky coast at dusk")[0] == note.pk
    with override_settings(**hosted):
        hosted_key = embedding_model_key()
        call_command("reembed")
    wait_for(lambda: set(dimensions(hosted_key)) == items, seconds=180)

    assert hosted_key == f"marengo3.0@{api_base}/v1.3"
    assert set(dimensions(hosted_key).values()) == {HOSTED_DIMENSION}
    assert set(dimensions(local_key).values()) == {32}
    assert f"halfvec({HOSTED_DIMENSION})" in index_definition(hosted_key)

    later, _ = item_add_text(text="waves breaking at night")
    wait_for(lambda: Item.objects.get(pk=later.pk).status == Status.READY, seconds=120)

    assert dimensions(hosted_key)[later.pk] == HOSTED_DIMENSION
    assert later.pk not in dimensions(local_key)
    # The web server looks again for a complete move every 30 s; then the hosted vectors answer.
    wait_for(lambda: search(base, key, "waves breaking at night")[0] == later.pk, seconds=60)

    # Queries go to the hosted API now: without it, a search by file is a 503 that names the
    # setting, and words still find words.
    os.killpg(api.pid, signal.SIGKILL)
    api.wait()
    by_photo = search_by_photo(base, key)

    assert by_photo.status_code == 503
    assert "EMBEDDINGS_REMOTE_URL" in by_photo.json()["message"]
    # (Other words than before: a query's vector is kept a while.)
    assert later.pk in search(base, key, "waves at night", warning=True)
