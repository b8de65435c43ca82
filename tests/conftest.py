"""Fixtures every test folder may use: a clock that moves only when a test says so."""

from __future__ import annotations

import pytest


class FakeClock:
    """Epoch seconds that only move when a test says so."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
