"""Circuit breakers, one per (provider, tool): closed -> open after N consecutive failures ->
half-open after a cooldown (one probe at a time) -> closed on success, open on failure."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class CircuitBreaker:
    """One provider/tool circuit: closed, open after `threshold` failures in a row,
    half-open (one probe allowed) once `cooldown_s` seconds have passed.
    """

    threshold: int
    cooldown_s: float
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False
    last_error: str | None = None

    @property
    def state(self) -> str:
        """"closed", "open" or "half-open", read from the failure count and the clock."""
        if self.opened_at is None:
            return "closed"
        if self.clock() - self.opened_at >= self.cooldown_s:
            return "half-open"
        return "open"

    def allow(self) -> bool:
        """May a request go to this provider now? In half-open, only one probe at a time."""
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self.probing:
            self.probing = True
            return True
        return False

    def retry_in(self) -> float:
        """Seconds (>= 0) until an open circuit lets a probe through; 0 when closed."""
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.cooldown_s - (self.clock() - self.opened_at))

    def record_success(self) -> None:
        """Close the circuit: forget the failures and any probe in flight."""
        self.failures = 0
        self.opened_at = None
        self.probing = False

    def record_failure(self, error: str) -> bool:
        """Count a failure; returns True if this failure (re)opened the circuit."""
        self.last_error = error
        was_probe = self.probing
        self.probing = False
        self.failures += 1
        if was_probe or (self.opened_at is None and self.failures >= self.threshold):
            self.opened_at = self.clock()
            return True
        return False

    def release_probe(self) -> None:
        """A probe ended without a verdict on the provider (e.g. the job was canceled)."""
        self.probing = False


class Breakers:
    """One circuit breaker per (provider, tool), so a fault in one tool never closes
    another: five crashing designs leave `local` open for design only, and crop keeps
    working. Keys print as ``provider/tool`` (stats, `provider_state` rows)."""

    def __init__(self, threshold: int, cooldown_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._by_key: dict[str, CircuitBreaker] = {}

    @staticmethod
    def key(provider: str, tool: str) -> str:
        """The breaker key for a provider running a tool, e.g. "replicate/upscale"."""
        return f"{provider}/{tool}"

    def get(self, provider: str, tool: str) -> CircuitBreaker:
        """The breaker for `provider` running `tool`, created closed on first use."""
        k = self.key(provider, tool)
        if k not in self._by_key:
            self._by_key[k] = CircuitBreaker(self.threshold, self.cooldown_s, self.clock)
        return self._by_key[k]

    def items(self) -> list[tuple[str, CircuitBreaker]]:
        """Every breaker made so far as `(key, breaker)`, sorted by key."""
        return sorted(self._by_key.items())
