"""The stream scenario's arithmetic: consumer position and call counts from room updates."""

from __future__ import annotations

import pytest
from bench.streamstats import Timeline, Update, calls_estimate, consumed_between


def test_timeline_counts_records_before_a_stamp() -> None:
    t = Timeline()
    for stamp in (10, 20, 20, 30):
        t.add(stamp)
    t.add(40, n=5)
    assert [t.count_before(s) for s in (0, 10, 11, 20, 21, 40, 41)] == [0, 0, 1, 1, 3, 4, 9]
    assert t.total == 9
    with pytest.raises(ValueError, match="go back"):
        t.add(39)


def test_consumed_between_sums_shards() -> None:
    a, b = Timeline(), Timeline()
    for s in range(100):
        a.add(s)
        b.add(s)
    updates = [
        Update(0, "r1", received=1_000, oldest=10),
        Update(0, "r2", received=1_001, oldest=12),  # same batch, another room
        Update(0, "r1", received=2_000, oldest=50),
        Update(1, "r3", received=1_500, oldest=5),
        Update(1, "r3", received=3_000, oldest=90),  # after t1: not counted
    ]
    # shard 0: 12 -> 50 = 38 records; shard 1: 0 (no update by t0) -> 5 = 5 records
    assert consumed_between(updates, {0: a, 1: b}, 1_200, 2_500) == 38 + 5
    assert consumed_between([], {0: a}, 0, 10) == 0


def test_calls_estimate_takes_the_larger_lower_bound() -> None:
    # Light load: calls a window apart, rooms missing from some batches.
    light = [
        Update(0, "r1", 0, 1),
        Update(0, "r2", 10, 1),
        Update(0, "r2", 100_000, 2),
        Update(0, "r1", 200_000, 3),
    ]
    assert calls_estimate(light, gap_ns=25_000) == {0: 3}
    # Heavy load: calls back to back (no gap), every room in every batch.
    heavy = [Update(1, r, i * 10 + j, 1) for i in range(4) for j, r in enumerate("ab")]
    assert calls_estimate(heavy, gap_ns=25_000) == {1: 4}
    assert calls_estimate([], gap_ns=1) == {}
