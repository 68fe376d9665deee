"""A small time-bounded memo, for registry reads that may be a few seconds stale."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class TtlCache:
    """A small time-bounded memo for registry reads."""

    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._items: dict[Any, tuple[float, Any]] = {}

    def get(self, key: Any, load: Callable[[], T], *, keep: Callable[[T], bool] = lambda _: True) -> T:
        now = self._clock()
        hit = self._items.get(key)
        if hit is not None and hit[0] > now:
            value: T = hit[1]
            return value
        value = load()
        if self._ttl > 0 and keep(value):
            if len(self._items) > 10_000:
                self._items.clear()
            self._items[key] = (now + self._ttl, value)
        return value
