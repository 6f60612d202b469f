"""Results of heavy dashboard queries, reused while a study has not changed.

While a study runs it changes every second; recomputing a 100k-trial aggregate on every poll
would keep the server busy. An entry is reused when the study's version is unchanged, or when it
is younger than a few times what it cost to compute (so recomputation takes a bounded share of
the server's time however often pages poll). A key is computed by one thread at a time: a
request that finds it being computed (by start-up priming or a parallel request) waits for that
result instead of computing it again.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

MIN_AGE_S = 2.0
COST_FACTOR = 5.0
MAX_ENTRIES = 256


class Memo:
    """A small LRU of (key → value computed at some version), thread-safe."""

    def __init__(self) -> None:
        self._entries: OrderedDict[Hashable, tuple[Any, Any, float, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, version: Any, compute: Callable[[], Any]) -> Any:
        """The cached value for `key` if still fresh for `version`, else `compute()` (stored)."""
        while True:
            with self._lock:
                fresh = self._fresh(key, version)
                if fresh is not None:
                    return fresh[0]
                running = self._computing.get(key)
                if running is None:
                    running = self._computing[key] = threading.Lock()
                    running.acquire()
                    break
            with running:  # another thread computes it: wait, then take its (fresh) result
                pass
        try:
            start = time.monotonic()
            value = compute()
            done = time.monotonic()
            with self._lock:
                self._entries[key] = (value, version, done, done - start)
                self._entries.move_to_end(key)
                while len(self._entries) > MAX_ENTRIES:
                    self._entries.popitem(last=False)
            return value
        finally:
            with self._lock:
                del self._computing[key]
            running.release()

    def _fresh(self, key: Hashable, version: Any) -> tuple[Any] | None:
        """(value,) when the entry for `key` may be reused at `version` (lock held)."""
        hit = self._entries.get(key)
        if hit is None:
            return None
        value, seen, at, cost = hit
        if seen == version or time.monotonic() - at < max(MIN_AGE_S, COST_FACTOR * cost):
            self._entries.move_to_end(key)
            return (value,)
        return None
