from __future__ import annotations

from importlib import import_module

import pytest
from django.apps import apps

from searchapp import tasks
from searchapp.models import Item, Status

pytestmark = pytest.mark.django_db

failure_reasons = import_module("searchapp.migrations.0005_failure_reasons_for_users")


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
