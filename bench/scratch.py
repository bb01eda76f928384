from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from django.db import connection


@contextmanager
def scratch_database() -> Iterator[None]:
    """A throwaway database with the app's migrations, so the product's own tables are measured."""
    original = connection.settings_dict["NAME"]
    connection.settings_dict.setdefault("TEST", {})["NAME"] = f"bench_anysearch_{os.getpid()}"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        yield
    finally:
        connection.creation.destroy_test_db(original, verbosity=0)


def database_url(db: dict[str, Any] | None = None) -> str:
    """A DATABASE_URL for other processes: this connection's database, or `db`'s.

    Embedded servers listen on a socket, whose directory is the `host` option.
    """
    db = db or connection.settings_dict
    user = f"{quote(db['USER'])}:{quote(db['PASSWORD'] or '')}"
    host = db["OPTIONS"].get("host") or db["HOST"]
    port = db["PORT"] or "5432"
    return f"postgresql://{user}@/{quote(db['NAME'])}?host={quote(host)}&port={port}"
