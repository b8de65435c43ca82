"""Per-key token buckets (pure: the clock is injected), e.g. credentials per source address.

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens per second; a request
takes one. When the bucket is empty the request is refused with :class:`RateLimited`, whose
``retry_after`` (whole seconds, as HTTP ``Retry-After`` wants, RFC 9110 §10.2.3) says when
one token will be back.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

from hubbub.auth.principal import Clock
from hubbub.errors import LimitExceeded, UsageError

# Credentials: a browser needs one per page load and one refresh per hour; 10 at once and
# one more every 6 s lets a person reload freely while a script gets ~600 identities/hour.
CREDENTIALS_BURST = 10
CREDENTIALS_RATE = 10 / 60
MAX_KEYS = 10_000  # tracked addresses; bounds memory under a spoofed-address flood


class RateLimited(LimitExceeded):
    """Too many requests from one key; retry after ``retry_after`` seconds (>= 1)."""

    mqtt_reason = 0x96  # MQTT 5 "Message rate too high"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """Token buckets keyed by a string; the least recently used key is forgotten first.

    Forgetting a key gives it a full bucket again; the LRU order makes the forgotten one
    the key that has had the longest time to refill anyway.
    """

    def __init__(self, clock: Clock, *, rate: float = CREDENTIALS_RATE,
                 burst: int = CREDENTIALS_BURST, max_keys: int = MAX_KEYS) -> None:
        if rate <= 0 or burst < 1 or max_keys < 1:
            raise UsageError("rate must be > 0, burst >= 1 and max_keys >= 1")
        self._clock = clock
        self.rate = rate
        self.burst = burst
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def acquire(self, key: str) -> None:
        """Take one token for ``key`` or raise :class:`RateLimited`."""
        wait = self.try_acquire(key)
        if wait > 0:
            retry = max(1, math.ceil(wait))
            raise RateLimited(f"rate limit exceeded for {key}; retry after {retry} s",
                              retry_after=retry)

    def try_acquire(self, key: str) -> float:
        """Take one token and return 0.0, or return the seconds until one is available."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(float(self.burst), now)
            self._buckets[key] = bucket
            if len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            # A clock that goes backwards (it should not) never mints tokens.
            elapsed = max(0.0, now - bucket.stamp)
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
            bucket.stamp = max(bucket.stamp, now)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate
