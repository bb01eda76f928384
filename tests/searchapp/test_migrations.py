from __future__ import annotations

from importlib import import_module

import pytest
from django.apps import apps

from searchapp import tasks
from searchapp.models import Item, Status

pytestmark = pytest.mark.django_db

failure_reasons = import_module("searchapp.migrations.0005_failure_reasons_for_users")
adts_aac_mime_type = import_module("searchapp.migrations.0007_adts_aac_mime_type")


def test_failures_stored_with_exception_text_are_reworded_for_users() -> None:
    old_messages = [
        "Gave up after 5 attempts. RuntimeError: CUDA error at /srv/app/x.py",
        "Gave up after 5 attempts. ModelUnavailable: The embedding model '/models/g' could not",
        "the audio file is empty.",
    ]
    for index, message in enumerate(old_messages):
        Item.objects.create(
            modality="text",
            text=f"note {index}",
            content_hash=f"{index:064d}",
            status=Status.FAILED,
            error_message=message,
        )

    failure_reasons.reword_failures(apps, None)

    assert list(Item.objects.order_by("pk").values_list("error_message", flat=True)) == [
        f"Gave up after 5 attempts: {tasks.SERVER_ERROR_REASON}",
        f"Gave up after 5 attempts: {tasks.MODEL_UNAVAILABLE_REASON}",
        "the audio file is empty.",
    ]


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
