"""A clock for injection (STYLE: time comes from an injected clock) that tests move by hand."""

from __future__ import annotations


class FakeClock:
    """Epoch seconds that only move when a test says so."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
