"""The token bucket: bursts up to the limit, refills at the rate, says when to come back."""

from __future__ import annotations

import pytest

from gatehouse.ratelimit import RateLimiter, TooManyRequests


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_allowed_then_refused_with_the_wait() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2, burst=5, clock=clock)
    for _ in range(5):
        limiter.take("alice")

    with pytest.raises(TooManyRequests) as refused:
        limiter.take("alice")

    assert refused.value.status == 429
    assert refused.value.retry_after_seconds == 1
    assert refused.value.extensions == {"retry_after_seconds": 1}


def test_tokens_come_back_at_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2, burst=5, clock=clock)
    for _ in range(5):
        limiter.take("alice")
    clock.now += 1.0  # two tokens back
    limiter.take("alice")
    limiter.take("alice")
    with pytest.raises(TooManyRequests):
        limiter.take("alice")


def test_a_slow_rate_asks_for_a_longer_wait() -> None:
    limiter = RateLimiter(rate=0.1, burst=1, clock=Clock())
    limiter.take("bot")
    with pytest.raises(TooManyRequests) as refused:
        limiter.take("bot")
    assert refused.value.retry_after_seconds == 10


def test_clients_have_their_own_buckets() -> None:
    limiter = RateLimiter(rate=1, burst=1, clock=Clock())
    limiter.take("alice")
    limiter.take("bob")
    with pytest.raises(TooManyRequests):
        limiter.take("alice")


def test_a_refill_never_exceeds_the_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=100, burst=3, clock=clock)
    limiter.take("alice")
    clock.now += 3600
    for _ in range(3):
        limiter.take("alice")
    with pytest.raises(TooManyRequests):
        limiter.take("alice")


def test_rate_zero_turns_limiting_off() -> None:
    limiter = RateLimiter(rate=0, burst=1, clock=Clock())
    for _ in range(1000):
        limiter.take("alice")


def test_idle_clients_are_forgotten_when_there_are_many() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=1, burst=2, clock=clock)
    for n in range(10_000):
        limiter.take(f"client-{n}")
    clock.now += 5  # everyone is full again
    limiter.take("newcomer")
    assert len(limiter._buckets) == 1
