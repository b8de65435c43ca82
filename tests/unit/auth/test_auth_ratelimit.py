from __future__ import annotations

import pytest

from hubbub.auth.ratelimit import RateLimited, RateLimiter
from hubbub.errors import UsageError


def test_burst_then_refill(clock) -> None:
    limiter = RateLimiter(clock, rate=0.5, burst=2)
    limiter.acquire("a")
    limiter.acquire("a")
    with pytest.raises(RateLimited) as info:
        limiter.acquire("a")
    assert info.value.retry_after == 2  # one token every 2 s
    assert info.value.mqtt_reason == 0x96
    clock.advance(1)
    assert limiter.try_acquire("a") == pytest.approx(1.0)
    clock.advance(1)
    limiter.acquire("a")


def test_refill_is_capped_at_burst(clock) -> None:
    limiter = RateLimiter(clock, rate=1, burst=2)
    limiter.acquire("a")
    clock.advance(1000)
    limiter.acquire("a")
    limiter.acquire("a")
    assert limiter.try_acquire("a") > 0


def test_retry_after_is_whole_seconds_at_least_one(clock) -> None:
    limiter = RateLimiter(clock, rate=100, burst=1)
    limiter.acquire("a")
    with pytest.raises(RateLimited) as info:
        limiter.acquire("a")
    assert info.value.retry_after == 1


def test_clock_going_backwards_mints_nothing(clock) -> None:
    limiter = RateLimiter(clock, rate=1, burst=1)
    limiter.acquire("a")
    clock.advance(-100)
    assert limiter.try_acquire("a") > 0
    clock.advance(100)
    assert limiter.try_acquire("a") > 0  # the stamp did not move back
    clock.advance(1)
    assert limiter.try_acquire("a") == 0.0


def test_memory_is_bounded_and_lru_key_is_forgotten(clock) -> None:
    limiter = RateLimiter(clock, rate=1, burst=1, max_keys=3)
    for key in "abc":
        limiter.acquire(key)
    assert limiter.try_acquire("a") > 0  # touch "a": "b" is now the least recent
    limiter.acquire("d")
    assert len(limiter) == 3
    assert limiter.try_acquire("a") > 0  # still tracked, still empty
    assert limiter.try_acquire("b") == 0.0  # forgotten, so fresh


@pytest.mark.parametrize("kwargs", [{"rate": 0}, {"burst": 0}, {"max_keys": 0}])
def test_misuse(clock, kwargs: dict) -> None:
    with pytest.raises(UsageError):
        RateLimiter(clock, **kwargs)
