"""How fast stream ingest may go: an additive-increase, multiplicative-decrease limiter
driven by the event loop's lag. Pure: the shell measures the lag and calls ``tick``.

Why the loop's lag: the stream, the chat's message path and the stream's consumer share
one event loop (one core). Under a burst every ``await`` of a chat message waits behind
all the work queued in one loop iteration, so the lag of a periodic timer is what a chat
message pays per step. The limiter lets stream puts through at ``rate`` records per tick
while the lag stays under ``target``, halves the rate when it does not, and grows it by
a tenth (at least one record) per calm tick. A late tick hands out tokens for the time
that really passed (``period + lag``), so ``min_rate`` is a floor in records per second
however busy the loop is. A put that finds no token waits (its
publisher's PUBACK waits with it) and is shed if none comes in time: stream traffic gives
way first, and the consumer, which is not limited, keeps its share of the core.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class IngestLimiter:
    """Tokens per tick for stream puts. ``target`` and lags in seconds."""

    target: float = 0.010
    period: float = 0.010  # the probe's period (s): rates are records per period
    min_rate: float = 20.0  # never less: the stream is slowed, not shut
    max_rate: float = 100_000.0
    rate: float = 1_000.0
    tokens: float = 1_000.0
    ticks_over: int = 0  # ticks that found the lag over target (for stats)

    def tick(self, lag: float) -> None:
        """One period passed; the loop ran ``lag`` seconds late. Refill for the next."""
        if lag > self.target:
            self.ticks_over += 1
            self.rate = max(self.min_rate, self.rate / 2)
        else:
            self.rate = min(self.max_rate, self.rate + max(1.0, self.rate / 10))
        # At most one tick's worth waits in the bucket: no burst after a quiet spell.
        due = self.rate * (self.period + max(0.0, lag)) / self.period
        self.tokens = min(self.tokens + due, due)

    def take(self, n: int) -> bool:
        """Spend ``n`` tokens if a whole one is left (a put of many records may go into
        debt)."""
        if self.tokens < 1:
            return False
        self.tokens -= n
        return True
