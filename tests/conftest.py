from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db.backends.postgresql.operations import DatabaseOperations
from django.test import Client

from bench.processes import Processes, process_environment
from embeddings.engine.base import EmbeddingModel
from embeddings.engine.registry import get_model
from embeddings.keys import api_key_create
from embeddings.locking import file_lock
from searchapp.search.caches import search_caches

# Fixtures that start real processes (workers and servers, Chromium): a test that uses one is
# marked `slow`, so that `make test` stays the quick loop.
PROCESS_FIXTURES = frozenset({"processes", "browser"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    unmarked = [
        item.nodeid
        for item in items
        if PROCESS_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("slow") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "These tests start real processes but are not marked slow: " + ", ".join(unmarked)
        )


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    # Live-server threads would otherwise hold connections that block dropping the test database.
    from django.conf import settings

    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0


@pytest.fixture(scope="session", autouse=True)
def _flush_by_delete() -> Iterator[None]:
    """Empty the tables after each transaction=True test with DELETE, not Django's TRUNCATE.

    TRUNCATE gives each table and index a new file: 0.2 s for this schema, after each of
    hundreds of tests, against a few milliseconds for DELETE on a test's few rows. Django
    makes foreign keys deferred and flushes in one transaction, so the order does not matter.
    Content types and permissions stay: the flush would recreate them as they were.
    """
    truncate = DatabaseOperations.sql_flush
    kept = {ContentType._meta.db_table, Permission._meta.db_table}

    def sql_flush(
        self: DatabaseOperations,
        style: Any,
        tables: list[str],
        *,
        reset_sequences: bool = False,
        allow_cascade: bool = False,
    ) -> list[str]:
        if reset_sequences:
            return truncate(self, style, tables, reset_sequences=True, allow_cascade=allow_cascade)
        return [f"DELETE FROM {self.quote_name(table)};" for table in tables if table not in kept]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "sql_flush", sql_flush)
        yield


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """One tiny model for all the test processes of a run (pytest-xdist's workers share the
    folder above their own), built by the first that needs it, so that its exports for
    OpenVINO are made once too (they are written atomically, for processes that load at once)."""
    run_dir = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        run_dir = run_dir.parent
    model_dir = run_dir / "tiny-embeddinggemma2"
    with file_lock(run_dir / "tiny-embeddinggemma2.lock"):
        if not model_dir.exists():
            # Imported here: torch and transformers take 15 s to import, which pytest-xdist's
            # controller process, and a worker that finds the model built, need not spend.
            from bench.random_model import build_tiny_model

            staging = Path(tempfile.mkdtemp(dir=run_dir))
            os.replace(build_tiny_model(staging), model_dir)
    return model_dir


@pytest.fixture(autouse=True)
def _tiny_model_settings(settings, tiny_model_dir: Path) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_MODEL = str(tiny_model_dir)
    settings.EMBEDDINGS_DEVICE = "cpu"
    settings.EMBEDDINGS_WARM_UP = False  # tests load the model when they ask for it
    search_caches.reset()


@pytest.fixture
def model() -> EmbeddingModel:
    return get_model()


@pytest.fixture
def api_key(db: None) -> str:
    return api_key_create(name="tests")[1]


@pytest.fixture
def api_client(api_key: str) -> Iterator[Client]:
    yield Client(headers={"x-api-key": api_key})


@pytest.fixture
def file_server() -> Iterator[tuple[str, dict[str, bytes]]]:
    # A loopback HTTP server for URL inputs: files[path] = bytes, then fetch base + path.
    files: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            content = files.get(self.path)
            if content is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", files
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(autouse=True)
def _media_and_tasks(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path / "media"
    # Tasks run as soon as they are queued, so tests see their effect at once.
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture(autouse=True)
def _quick_password_hashing(settings) -> None:  # type: ignore[no-untyped-def]
    # The default hasher takes 0.6 s a password on purpose; hundreds of tests make users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def user(django_user_model):  # type: ignore[no-untyped-def]
    return django_user_model.objects.create_user(username="curator", password="a-long-password-1")


@pytest.fixture
def user_client(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def processes(settings, tmp_path: Path) -> Iterator[Processes]:  # type: ignore[no-untyped-def]
    """Starts real worker and web processes on the test database (use a transaction=True test),
    sharing this test's media directory and the durable task backend."""
    from django.db import connection

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    settings.MEDIA_ROOT = tmp_path / "data" / "media"
    started = Processes(
        env=process_environment(
            database=connection.settings_dict,
            data_dir=tmp_path / "data",
            model=settings.EMBEDDINGS_MODEL,
        ),
        logs=tmp_path / "logs",
    )
    yield started
    started.stop()


@dataclass
class Resampled:
    """(sample rate, channels, samples) of each decoded frame handed to a resampler: the audio
    decoder's work, which grows with what a header claims."""

    frames: list[tuple[int, int, int]] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(samples / rate for rate, _, samples in self.frames)


@pytest.fixture
def resampled(monkeypatch: pytest.MonkeyPatch) -> Resampled:
    seen = Resampled()
    real = av.AudioResampler

    class Watched:
        def __init__(self, **options: Any) -> None:
            self._resampler = real(**options)

        def resample(self, frame: av.AudioFrame | None) -> list[av.AudioFrame]:
            if frame is not None:
                seen.frames.append((frame.sample_rate, frame.layout.nb_channels, frame.samples))
            return self._resampler.resample(frame)

    monkeypatch.setattr(av, "AudioResampler", Watched)
    return seen


@pytest.fixture
def embedded_audio(model: EmbeddingModel, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Seconds of audio in each waveform the model is given during the test."""
    seen: list[float] = []
    embed_audio = model.embed_audio

    def watched(waveforms: Any) -> Any:
        seen.extend(len(waveform) / model.sampling_rate for waveform in waveforms)
        return embed_audio(waveforms)

    monkeypatch.setattr(model, "embed_audio", watched)
    return seen
