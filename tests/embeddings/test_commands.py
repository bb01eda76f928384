from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from embeddings.models import ApiKey

pytestmark = pytest.mark.django_db


def test_create_api_key_prints_a_working_key_on_its_last_line() -> None:
    out, err = io.StringIO(), io.StringIO()

    call_command("create_api_key", "my-client", stdout=out, stderr=err)

    key = out.getvalue().strip().splitlines()[-1]
    assert key.startswith("ask_")
    stored = ApiKey.objects.get(name="my-client")
    assert key not in (stored.digest, stored.lookup)
    response = Client(headers={"x-api-key": key}).post(
        "/v1.3/embed", {"model_name": "embeddinggemma-2", "text": "hello"}
    )
    assert response.status_code == 200


def test_download_model_fetches_the_configured_model(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_MODEL = "google/embeddinggemma-2"
    calls: list[tuple[str, Any]] = []

    def snapshot_download(repo_id: str, local_dir: Any = None) -> str:
        calls.append((repo_id, local_dir))
        return str(local_dir or tmp_path / "cache")

    monkeypatch.setattr("huggingface_hub.snapshot_download", snapshot_download)
    out = io.StringIO()

    call_command("download_model", "--target", str(tmp_path / "copy"), stdout=out)

    assert calls == [("google/embeddinggemma-2", str(tmp_path / "copy"))]
    assert f"EMBEDDINGS_MODEL={tmp_path / 'copy'}" in out.getvalue()


def test_download_model_explains_a_login_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    def snapshot_download(repo_id: str, local_dir: Any = None) -> str:
        raise OSError("401 Client Error: gated repo")

    monkeypatch.setattr("huggingface_hub.snapshot_download", snapshot_download)

    with pytest.raises(CommandError, match="HF_TOKEN"):
        call_command("download_model", "--model", "google/embeddinggemma-2")
