from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from searchapp.models import Item

BEFORE = ("searchapp", "0004_item_embedded_at")


@pytest.mark.django_db(transaction=True)
def test_raw_aac_items_stored_before_it_had_a_type_get_audio_aac() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    Stored = executor.loader.project_state([BEFORE]).apps.get_model("searchapp", "Item")
    for index, (modality, mime_type) in enumerate(
        [("audio", "application/octet-stream"), ("audio", "audio/mpeg"), ("image", "image/png")]
    ):
        Stored.objects.create(
            modality=modality, file=f"items/{index}", content_hash=str(index), mime_type=mime_type
        )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert sorted(Item.objects.values_list("modality", "mime_type")) == [
        ("audio", "audio/aac"),
        ("audio", "audio/mpeg"),
        ("image", "image/png"),
    ]
