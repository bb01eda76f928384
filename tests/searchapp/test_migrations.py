from __future__ import annotations

from importlib import import_module

import pytest
from django.apps import apps

from searchapp.models import Item

pytestmark = pytest.mark.django_db

adts_aac_mime_type = import_module("searchapp.migrations.0005_adts_aac_mime_type")


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
