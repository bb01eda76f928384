"""Run in a process of the embeddings-only project: migrate, make a key, and print what the
app answered to each request, as JSON."""

from __future__ import annotations

import json
import os

import django
from django.core.management import call_command
from django.test import Client

os.environ["DJANGO_SETTINGS_MODULE"] = "tests.embeddings_only.settings"
django.setup()

from embeddings.conf import embeddings_settings  # noqa: E402  (after setup)
from embeddings.keys import api_key_create  # noqa: E402

call_command("migrate", verbosity=0)
client = Client(headers={"x-api-key": api_key_create(name="tests")[1]})
too_long = embeddings_settings().max_request_bytes + 1
answers = {
    "embed": client.post("/v1.3/embed", {"model_name": "marengo3.0", "text": "rain"}),
    "too_large": client.generic("POST", "/v1.3/embed", b"", CONTENT_LENGTH=str(too_long)),
    "openapi": client.get("/openapi.json"),
}
print(json.dumps({name: [r.status_code, r.json()] for name, r in answers.items()}))
