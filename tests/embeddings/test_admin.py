from __future__ import annotations

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.sessions.models import Session
from django.test import Client

from embeddings.keys import api_key_find
from embeddings.models import ApiKey

pytestmark = pytest.mark.django_db


def test_a_new_api_key_is_shown_once_and_kept_nowhere_but_as_a_digest(admin_client: Client) -> None:
    response = admin_client.post("/admin/embeddings/apikey/add/", {"name": "ci", "owner": ""})

    (key,) = re.findall(r"ask_[\w-]{20,}", response.content.decode())
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert api_key_find(key) == ApiKey.objects.get(name="ci")
    assert key not in str(ApiKey.objects.values().get())
    later = admin_client.get("/admin/embeddings/apikey/")
    assert key not in later.content.decode()
    stored = [
        *(cookie.value for cookie in admin_client.cookies.values()),
        *(cookie.value for cookie in response.cookies.values()),
        *(str(session.get_decoded()) for session in Session.objects.all()),
        *(session.session_data for session in Session.objects.all()),
        *(f"{entry.object_repr} {entry.change_message}" for entry in LogEntry.objects.all()),
    ]
    assert not [value for value in stored if key in value]


def test_editing_an_api_key_keeps_its_key(admin_client: Client) -> None:
    admin_client.post("/admin/embeddings/apikey/add/", {"name": "ci", "owner": ""})
    api_key = ApiKey.objects.get()

    response = admin_client.post(
        f"/admin/embeddings/apikey/{api_key.pk}/change/", {"name": "renamed", "owner": ""}
    )

    assert response.status_code == 302
    renamed = ApiKey.objects.get()
    assert (renamed.name, renamed.digest) == ("renamed", api_key.digest)
