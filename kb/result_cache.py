"""The query pool's cache of answers (``kb.workers``): by store generation, query, dataset
and formats, as the Wikidata Query Service caches results."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kb.engine import Result


class ResultCache:
    """Answers by (store generation, query, dataset, formats), least recently used first
    out, within ``limit`` bytes; an answer over an eighth of it is not kept. A write makes
    a new generation, so a cached answer is never stale: the first answer of a generation
    empties the cache."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._entries: OrderedDict[tuple, Result] = OrderedDict()
        self._bytes = 0
        self._generation: int | None = None
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Result | None:
        if not self.limit:
            return None
        with self._lock:
            result = self._entries.get(key)
            if result is not None:
                self._entries.move_to_end(key)
            return result

    def put(self, key: tuple, result: Result) -> Result:
        size = len(result.data)
        if not self.limit or size > self.limit // 8:
            return result
        with self._lock:
            if self._generation is not None and key[0] < self._generation:
                return result  # a slow query of an older generation: keep the newer cache
            if key[0] != self._generation:
                self._entries.clear()
                self._bytes = 0
                self._generation = key[0]
            if key not in self._entries:
                self._entries[key] = result
                self._bytes += size
            while self._bytes > self.limit:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= len(dropped.data)
        return result
