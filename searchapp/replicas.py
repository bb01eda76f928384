"""Read replicas (DATABASE_REPLICA_URLS): searches, browsing and an item's neighbours read the
library from one.

A view wrapped in `reads_from_a_replica`, or a read passed to `on_a_replica` (an item page's
neighbours), reads the library's tables (the searchapp models) from a replica, round-robin
over those that answer and lag the primary by at most DATABASE_REPLICA_MAX_LAG_SEC;
everything else reads and writes the primary: the item of an item page, the upload page, the
admin, sessions, accounts and API keys. A client that has just written (any
other request that is not a GET, HEAD or OPTIONS and succeeded) reads from the primary for as
long as a replica may lag, so it sees its own writes. A replica that fails mid-request is left
out and the view runs again on the primary.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Concatenate, ParamSpec, TypeVar

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.models import Model
from django.http import HttpRequest, HttpResponse

from searchapp.conf import DATABASE_REPLICA_MAX_LAG_SEC

logger = logging.getLogger(__name__)

REPLICA_PREFIX = "replica_"
LIBRARY_APP = "searchapp"
# How long a replica's health and lag, once looked up, are taken as they were.
CHECK_EVERY_SEC = 2.0
# Set on a response to a write; its value is when the client may read from replicas again.
PRIMARY_COOKIE = "read_primary_until"

# Seconds a replica lags the primary: nothing when it has replayed all it has received, else
# since the last transaction it replayed (an overestimate when the primary was idle before).
LAG_SQL = """
SELECT CASE
    WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
    ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)
END
"""

_reading: ContextVar[str | None] = ContextVar("reading_replica", default=None)


def replica_aliases() -> list[str]:
    return [alias for alias in connections.settings if alias.startswith(REPLICA_PREFIX)]


class ReplicaPool:
    """The replicas in turn, skipping those that failed or lagged when last looked at."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._turn = 0
        self._checked: dict[str, tuple[float, bool]] = {}

    def choose(self) -> str | None:
        """A usable replica's alias, or None for the primary."""
        aliases = replica_aliases()
        for _ in aliases:
            with self._lock:
                alias = aliases[self._turn % len(aliases)]
                self._turn += 1
            if self._usable(alias):
                return alias
        return None

    def leave_out(self, alias: str) -> None:
        self._record(alias, usable=False)

    def forget(self) -> None:
        with self._lock:
            self._checked.clear()

    def _usable(self, alias: str) -> bool:
        checked = self._checked.get(alias)
        if checked is not None and time.monotonic() - checked[0] < CHECK_EVERY_SEC:
            return checked[1]
        usable = self._lag_sec(alias) <= DATABASE_REPLICA_MAX_LAG_SEC.value()
        self._record(alias, usable=usable)
        return usable

    def _lag_sec(self, alias: str) -> float:
        try:
            with connections[alias].cursor() as cursor:
                cursor.execute(LAG_SQL)
                (lag,) = cursor.fetchone()
        except DatabaseError as error:
            logger.warning("Read replica %s does not answer: %s", alias, error)
            connections[alias].close()
            return float("inf")
        return float(lag)

    def _record(self, alias: str, *, usable: bool) -> None:
        with self._lock:
            before = self._checked.get(alias)
            self._checked[alias] = (time.monotonic(), usable)
        if before is not None and before[1] != usable:
            logger.warning("Read replica %s is %s", alias, "back" if usable else "left out")


replica_pool = ReplicaPool()


class ReplicaRouter:
    """Reads of the library's tables go where `reads_from_a_replica` says; all else, and
    every write and migration, to the primary."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        if model._meta.app_label != LIBRARY_APP:
            return DEFAULT_DB_ALIAS
        return _reading.get()

    def db_for_write(self, model: type[Model], **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, first: Model, second: Model, **hints: Any) -> bool:
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS


def reading_database() -> str:
    """The alias that raw SQL reading the library uses now."""
    return _reading.get() or DEFAULT_DB_ALIAS


@contextmanager
def reading_from(alias: str) -> Iterator[None]:
    token = _reading.set(alias)
    try:
        yield
    finally:
        _reading.reset(token)


P = ParamSpec("P")
R = TypeVar("R", bound=HttpResponse)
T = TypeVar("T")
Request = TypeVar("Request", bound=HttpRequest)


def reads_from_a_replica(
    view: Callable[Concatenate[Request, P], R],
) -> Callable[Concatenate[Request, P], R]:
    """The view reads the library from a replica chosen for its request (`on_a_replica`)."""

    @functools.wraps(view)
    def wrapped(request: Request, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return on_a_replica(request, lambda: view(request, *args, **kwargs))

    wrapped.reads_from_a_replica = True  # type: ignore[attr-defined]
    return wrapped


def on_a_replica(request: HttpRequest, read: Callable[[], T]) -> T:
    """`read()` with the library's reads on a replica in turn; on the primary where the client
    wrote recently, no replica answers in time, or the chosen one fails mid-way."""
    alias = None if wrote_recently(request) else replica_pool.choose()
    if alias is not None:
        try:
            with reading_from(alias):
                return read()
        except DatabaseError as error:
            logger.warning(
                "Read replica %s failed mid-request (%s); using the primary", alias, error
            )
            replica_pool.leave_out(alias)
            connections[alias].close()
    return read()


def wrote_recently(request: HttpRequest) -> bool:
    try:
        return float(request.COOKIES.get(PRIMARY_COOKIE, "")) > time.time()
    except ValueError:
        return False


def read_your_writes_window_sec() -> float:
    return DATABASE_REPLICA_MAX_LAG_SEC.value() + CHECK_EVERY_SEC


class ReadYourWritesMiddleware:
    """After a client's write, its reads go to the primary for as long as a replica may lag."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            request.method not in ("GET", "HEAD", "OPTIONS")
            and response.status_code < 400
            and not getattr(request, "read_from_a_replica", False)
            and replica_aliases()
        ):
            window = read_your_writes_window_sec()
            response.set_cookie(
                PRIMARY_COOKIE,
                f"{time.time() + window:.0f}",
                max_age=int(window) + 1,
                secure=request.is_secure(),
                httponly=True,
                samesite="Lax",
            )
        return response

    def process_view(
        self, request: HttpRequest, view: Callable[..., HttpResponse], *args: Any
    ) -> None:
        request.read_from_a_replica = getattr(view, "reads_from_a_replica", False)  # type: ignore[attr-defined]
