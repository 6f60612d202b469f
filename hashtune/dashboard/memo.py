"""Results of heavy dashboard queries, reused while a study has not changed.

While a study runs it changes every second; recomputing a 100k-trial aggregate on every poll
would keep the server busy. An entry is reused when the study's version is unchanged, or when it
is younger than a few times what it cost to compute (so recomputation takes a bounded share of
the server's time however often pages poll).
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

    def get(self, key: Hashable, version: Any, compute: Callable[[], Any]) -> Any:
        """The cached value for `key` if still fresh for `version`, else `compute()` (stored)."""
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                value, seen, at, cost = hit
                if seen == version or now - at < max(MIN_AGE_S, COST_FACTOR * cost):
                    self._entries.move_to_end(key)
                    return value
        start = time.monotonic()
        value = compute()
        done = time.monotonic()
        with self._lock:
            self._entries[key] = (value, version, done, done - start)
            self._entries.move_to_end(key)
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)
        return value
