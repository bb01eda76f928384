from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.backends.postgresql import base

from searchapp.database import CONNECT_RETRY_SEC, EMBEDDED_PGDATA, start_embedded_server

logger = logging.getLogger(__name__)

RETRY_INTERVAL_SEC = 0.5


class DatabaseWrapper(base.DatabaseWrapper):
    """PostgreSQL that waits for the database to come back instead of failing at once.

    A restart cuts every connection; CONN_HEALTH_CHECKS notices, and the new connection then
    waits up to DATABASE_CONNECT_RETRY_SEC, so the worker and requests carry on by themselves.
    The embedded server, where there is one, starts with the process's first connection.
    """

    def get_connection_params(self) -> dict[str, Any]:
        pgdata = self.settings_dict.get(EMBEDDED_PGDATA)
        if pgdata and not self.settings_dict["HOST"]:
            self.settings_dict["HOST"] = start_embedded_server(Path(pgdata))
        return super().get_connection_params()

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        retry_sec = self.settings_dict.get(CONNECT_RETRY_SEC, settings.DATABASE_CONNECT_RETRY_SEC)
        deadline = time.monotonic() + retry_sec
        while True:
            try:
                return super().get_new_connection(conn_params)
            except self.Database.OperationalError as error:
                if time.monotonic() >= deadline:
                    raise
                logger.warning("The database refused a connection; retrying: %s", error)
                time.sleep(RETRY_INTERVAL_SEC)
