from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable


class FetchSlotsFull(Exception):
    def __init__(self, *, limit: int, per_key: bool) -> None:
        super().__init__(limit, per_key)
        self.limit = limit
        self.per_key = per_key


class FetchSlots:
    """URL fetches running in this process, in all and per API key.

    A slot is held until the fetch itself ends, which for a fetch the request gave up on can be
    after the request ended; so the fetch thread pool never holds more fetches than the bound.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: Counter[str] = Counter()

    def take(self, key: str, *, limit: int, per_key_limit: int) -> Callable[[], None]:
        with self._lock:
            if self._running[key] >= per_key_limit:
                raise FetchSlotsFull(limit=per_key_limit, per_key=True)
            if self._running.total() >= limit:
                raise FetchSlotsFull(limit=limit, per_key=False)
            self._running[key] += 1

        def release() -> None:
            with self._lock:
                self._running[key] -= 1
                if not self._running[key]:
                    del self._running[key]

        return release
