from __future__ import annotations

import pytest

from hubbub.auth.violations import DEFAULT_LIMIT, DEFAULT_WINDOW, ViolationCounter
from hubbub.errors import UsageError


def test_disconnect_on_the_limit_th_denial_within_window(clock) -> None:
    counter = ViolationCounter(clock)
    verdicts = [counter.record() for _ in range(DEFAULT_LIMIT)]
    assert verdicts == [False] * (DEFAULT_LIMIT - 1) + [True]
    assert counter.total == DEFAULT_LIMIT


def test_sliding_window_forgets_old_denials(clock) -> None:
    counter = ViolationCounter(clock, limit=3, window=10)
    assert counter.record() is False
    clock.advance(6)
    assert counter.record() is False
    clock.advance(6)  # the first one is now 12 s old
    assert counter.record() is False
    assert counter.recent() == 2
    clock.advance(1)
    assert counter.record() is True  # 3 within 7 s


def test_slow_trickle_never_disconnects(clock) -> None:
    counter = ViolationCounter(clock)
    for _ in range(100):
        assert counter.record() is False
        clock.advance(DEFAULT_WINDOW / (DEFAULT_LIMIT - 1) + 0.01)


@pytest.mark.parametrize("kwargs", [{"limit": 0}, {"window": 0}])
def test_misuse(clock, kwargs: dict) -> None:
    with pytest.raises(UsageError):
        ViolationCounter(clock, **kwargs)
