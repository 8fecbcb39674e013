"""Token buckets for per-member and per-server rate limits (in memory)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """`per_minute` tokens of capacity, refilled continuously; one bucket per key."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._buckets: dict[str, _Bucket] = {}
        self._clock = clock

    def _refill(self, key: str, per_minute: int) -> _Bucket:
        now = self._clock()
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = _Bucket(float(per_minute), now)
        else:
            b.tokens = min(float(per_minute), b.tokens + (now - b.updated) * per_minute / 60.0)
            b.updated = now
        return b

    def wait_time(self, key: str, per_minute: int) -> float:
        """Seconds until one token is available (0 if one is available now)."""
        b = self._refill(key, per_minute)
        return 0.0 if b.tokens >= 1.0 else (1.0 - b.tokens) * 60.0 / per_minute

    def take(self, key: str, per_minute: int) -> None:
        """Spend one token from the bucket `key` (it may go below zero)."""
        b = self._refill(key, per_minute)
        b.tokens -= 1.0
