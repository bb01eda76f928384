from __future__ import annotations

from importlib import import_module
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection

from searchapp.models import Item, ItemEmbedding, Modality, Status, Tag
from searchapp.search.vector_index import index_name
from searchapp.services.jobs import LOST_JOBS_REASON
from searchapp.tasks import gave_up_reason

pytestmark = pytest.mark.django_db

halfvec_indexes = import_module("searchapp.migrations.0003_halfvec_indexes")
tag_list = import_module("searchapp.migrations.0014_tag_list")
failure_reasons = import_module("searchapp.migrations.0005_failure_reasons_for_users")
adts_aac_mime_type = import_module("searchapp.migrations.0007_adts_aac_mime_type")
file_name_words = import_module("searchapp.migrations.0009_file_name_words")
model_failures_wait = import_module("searchapp.migrations.0010_model_failures_wait")


def failed_items(*messages: str) -> list[Item]:
    return [
        Item.objects.create(
            modality="text",
            text=f"note {index}",
            content_hash=f"{index:064d}",
            status=Status.FAILED,
            error_message=message,
        )
        for index, message in enumerate(messages)
    ]


def test_failures_stored_with_exception_text_are_reworded_for_users() -> None:
    failed_items(
        "Gave up after 5 attempts. RuntimeError: CUDA error at /srv/app/x.py",
        "Gave up after 5 attempts. ModelUnavailable: The embedding model '/models/g' could not",
        "the audio file is empty.",
    )

    failure_reasons.reword_failures(apps, None)

    assert list(Item.objects.order_by("pk").values_list("error_message", flat=True)) == [
        f"Gave up after 5 attempts: {failure_reasons.SERVER_ERROR_REASON}",
        f"Gave up after 5 attempts: {failure_reasons.MODEL_UNAVAILABLE_REASON}",
        "the audio file is empty.",
    ]


def test_items_that_failed_for_a_missing_model_wait_for_it_and_reasons_lose_their_how_to_fix() -> (
    None
):
    failed_items(
        f"Gave up after 5 attempts: {failure_reasons.MODEL_UNAVAILABLE_REASON}",
        f"Gave up after 5 attempts: {failure_reasons.SERVER_ERROR_REASON}",
        model_failures_wait.OLD_LOST_JOBS,
        "the audio file is empty.",
    )

    model_failures_wait.wait_instead_of_failing(apps, None)

    assert list(Item.objects.order_by("pk").values_list("status", "error_message")) == [
        (Status.WAITING, ""),
        (Status.FAILED, gave_up_reason(attempts=5)),
        (Status.FAILED, LOST_JOBS_REASON),
        (Status.FAILED, "the audio file is empty."),
    ]


def test_items_indexed_before_file_name_words_are_found_by_them() -> None:
    item = Item.objects.create(
        modality="image",
        file="items/x.png",
        original_filename="IMG_2041-harbourSeals.jpg",
        content_hash="0" * 64,
    )

    file_name_words.index_name_words(apps, None)

    assert Item.objects.filter(search_document="seal").get().pk == item.pk


def test_raw_aac_items_stored_before_it_had_a_type_get_audio_aac() -> None:
    stored = [
        ("audio", "application/octet-stream"),
        ("audio", "audio/mpeg"),
        ("image", "image/png"),
    ]
    for index, (modality, mime_type) in enumerate(stored):
        Item.objects.create(
            modality=modality,
            file=f"items/{index}",
            content_hash=f"{index:064d}",
            mime_type=mime_type,
        )

    adts_aac_mime_type.label_adts_aac(apps, None)

    assert list(Item.objects.order_by("pk").values_list("mime_type", flat=True)) == [
        "audio/aac",
        "audio/mpeg",
        "image/png",
    ]


def indexes() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s",
            [ItemEmbedding._meta.db_table],
        )
        return dict(cursor.fetchall())


def test_full_precision_indexes_become_the_halfvec_index_the_app_searches_with() -> None:
    item = failed_items("")[0]
    ItemEmbedding.objects.create(
        item=item, model_key="model#v1", modality=Modality.TEXT, embedding=[1.0, 0.0, 0.0]
    )
    with connection.cursor() as cursor:
        # A migration runs outside the test's transaction: no foreign-key checks wait in it.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "CREATE INDEX item_embedding_hnsw_old ON searchapp_itemembedding"
            " USING hnsw ((embedding::vector(3)) vector_cosine_ops) WHERE model_key = 'model#v1'"
        )

    halfvec_indexes.index_as_halfvec(apps, SimpleNamespace(connection=connection))

    after = indexes()
    assert "item_embedding_hnsw_old" not in after
    # The name vector_index ensures, so the app finds it instead of building a second one.
    definition = after[index_name("model#v1")]
    assert "halfvec(3)" in definition and "halfvec_cosine_ops" in definition
    assert "model_key" in definition and "model#v1" in definition


def test_the_tags_of_items_added_before_the_tag_list_are_listed() -> None:
    for index, tags in enumerate((["harbour", "birds"], ["harbour"], [])):
        Item.objects.create(modality="text", text="a", content_hash=f"{index:064d}", tags=tags)
    Tag.objects.all().delete()

    with connection.cursor() as cursor:
        cursor.execute(tag_list.LIST_TAGS_IN_USE)

    assert sorted(Tag.objects.values_list("name", flat=True)) == ["birds", "harbour"]
