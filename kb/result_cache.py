"""The query pool's cache of answers (``kb.workers``): by store generation, query, dataset
and formats, as the Wikidata Query Service caches results."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from cachetools import LRUCache

if TYPE_CHECKING:
    from kb.engine import Result


class ResultCache:
    """Answers by (store generation, query, dataset, formats), least recently used first
    out, within ``limit`` bytes (cachetools' LRU, sized by the answers' bytes); an answer over
    an eighth of it is not kept. A write makes a new generation, so a cached answer is never
    stale: the first answer of a generation empties the cache."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._entries: LRUCache[tuple, Result] = LRUCache(max(limit, 1), getsizeof=_size)
        self._generation: int | None = None
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Result | None:
        if not self.limit:
            return None
        with self._lock:
            return self._entries.get(key)

    def put(self, key: tuple, result: Result) -> Result:
        if not self.limit or _size(result) > self.limit // 8:
            return result
        with self._lock:
            if self._generation is not None and key[0] < self._generation:
                return result  # a slow query of an older generation: keep the newer cache
            if key[0] != self._generation:
                self._entries.clear()
                self._generation = key[0]
            if key not in self._entries:
                self._entries[key] = result
        return result


def _size(result: Result) -> int:
    return len(result.data)
