from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import numpy as np

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")

# Paging, filtering and "more like this" ask for the same text again.
TEXT_QUERY_VECTORS = 1024


class LeastRecentlyUsed(Generic[Key, Value]):
    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._lock = threading.Lock()
        self._values: OrderedDict[Key, Value] = OrderedDict()

    def get_or_make(self, key: Key, make: Callable[[], Value]) -> Value:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
        value = make()  # outside the lock: two threads may make one value, never wait on each other
        with self._lock:
            self._values[key] = value
            while len(self._values) > self.maxsize:
                self._values.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


class SearchCaches:
    """What this process remembers between searches, so that each search reads less:

    - `complete_model_keys`: the models every item with vectors has vectors from. It stays
      true, since new vectors are made with the configured model; search_model.py.
    - `model_keys_during_switch`: while a library moves to a new model, which model answers
      searches, as last looked up (configured key -> (when, answering key)); search_model.py.
    - `ensured_indexes`: the (model key, dimension) whose HNSW index exists; vector_index.py.
    - `text_query_vectors`: the vectors of recent query texts by (text, model key);
      query_vectors.py.

    `reset()` forgets all of it. Tests call it before each test, whose database starts empty;
    a running server needs it only if vectors are removed behind its back (a database restored
    from a backup): restarting the processes does the same. The model itself is embeddings'
    (`embeddings.engine.registry.model_cache`), replaced when its settings change.
    """

    def __init__(self) -> None:
        self.complete_model_keys: set[str] = set()
        self.model_keys_during_switch: dict[str, tuple[float, str]] = {}
        self.ensured_indexes: set[tuple[str, int]] = set()
        self.text_query_vectors: LeastRecentlyUsed[tuple[str, str], np.ndarray] = LeastRecentlyUsed(
            TEXT_QUERY_VECTORS
        )

    def reset(self) -> None:
        self.complete_model_keys.clear()
        self.model_keys_during_switch.clear()
        self.ensured_indexes.clear()
        self.text_query_vectors.clear()


search_caches = SearchCaches()
