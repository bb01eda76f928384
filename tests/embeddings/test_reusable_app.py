"""The embeddings app in a project of its own (tests/embeddings_only): INSTALLED_APPS and a URL
include are all it needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from bench.processes import ROOT
from searchapp.database import database_url

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def test_the_app_serves_the_embed_api_bounded_in_a_project_that_installs_only_it(
    tiny_model_dir: Path,
) -> None:
    name = f"embeddings_only_{os.getpid()}"
    admin = {**connection.get_connection_params(), "dbname": "postgres", "autocommit": True}
    with psycopg.connect(**admin) as server:
        server.execute(f'CREATE DATABASE "{name}"')
    try:
        result = subprocess.run(
            [sys.executable, "-m", "tests.embeddings_only.requests"],
            cwd=ROOT,
            env={
                **os.environ,
                "DATABASE_URL": database_url({**connection.settings_dict, "NAME": name}),
                "EMBEDDINGS_MODEL": str(tiny_model_dir),
            },
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        with psycopg.connect(**admin) as server:
            server.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout.splitlines()[-1])

    (status, embedded) = answers["embed"]
    assert status == 200, embedded
    assert len(embedded["text_embedding"]["segments"]) == 1
    assert answers["too_large"][0] == 413
    assert answers["too_large"][1]["code"] == "file_too_large"
    (status, schema) = answers["openapi"]
    assert status == 200 and "/v1.3/embed" in schema["paths"]
    assert not any(path.startswith("/api/") for path in schema["paths"]), "searchapp's paths"
