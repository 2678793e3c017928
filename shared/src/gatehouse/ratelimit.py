"""Per-client rate limiting: a token bucket for each caller, refilled continuously.

A client is the authenticated subject (a person, or the subject of an API key); requests that
fail authentication count against their source address instead, which slows down anyone
trying tokens or keys. Requests that need no authentication (the documents, /readyz and
/metrics; not /healthz) count against another budget of their source address. Each replica
limits on its own: with N replicas a client may get up to N times the rate, so a cluster-wide
limit belongs in the gateway in front.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from gatehouse.errors import GatehouseError

__all__ = ["RateLimiter", "TooManyRequests"]

# Buckets refilled to the brim hold no state worth keeping: past this many, they are dropped.
_PRUNE_ABOVE = 10_000


class TooManyRequests(GatehouseError):
    status, slug, title = 429, "too-many-requests", "Too many requests"

    def __init__(self, detail: str, *, retry_after_seconds: int) -> None:
        super().__init__(detail, retry_after_seconds=retry_after_seconds)
        self.retry_after_seconds = retry_after_seconds


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """``rate`` requests a second on average, up to ``burst`` at once; ``rate`` 0 turns it off."""

    def __init__(
        self, *, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, client: str) -> None:
        """Spend one token of ``client``'s bucket, or raise 429 saying when one will be back."""
        if self.rate <= 0:
            return
        now = self._clock()
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= _PRUNE_ABOVE:
                self._prune(now)
            bucket = self._buckets[client] = _Bucket(tokens=self.burst, updated=now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens < 1:
            wait = math.ceil((1 - bucket.tokens) / self.rate)
            raise TooManyRequests(
                f"more than {self.rate:g} requests a second (bursts of "
                f"{self.burst}); retry in {wait} s",
                retry_after_seconds=wait,
            )
        bucket.tokens -= 1

    def _prune(self, now: float) -> None:
        full = [
            client
            for client, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.updated) * self.rate >= self.burst
        ]
        for client in full:
            del self._buckets[client]
