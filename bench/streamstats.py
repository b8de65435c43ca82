"""What the stream scenario derives from outside the broker: the consumer's position and
its function calls, read off the rooms' ``typing`` updates (no counter route needed).

Facts used (src/hubbub/streams/consumer.py, apps/chat/functions/stream.py): one consumer
task per shard, one batch in flight per shard, a room is one partition key and so lives
on one shard; one call per batch publishes one ``typing`` update per room in the batch,
naming the batch's first 20 users of that room in arrival order. The generator's users
are send stamps, so an update's smallest stamp is the oldest record of its batch in that
room: every record of the shard sent before it was in an earlier batch.

Pure: no asyncio, socket or time (times are integers in ns, given by the caller).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class Timeline:
    """Records sent to one shard: (stamp, cumulative count), stamps non-decreasing."""

    stamps: list[int] = field(default_factory=list)
    totals: list[int] = field(default_factory=list)

    def add(self, stamp: int, n: int = 1) -> None:
        if self.stamps and stamp < self.stamps[-1]:
            raise ValueError(f"stamps must not go back: {stamp} after {self.stamps[-1]}")
        self.stamps.append(stamp)
        self.totals.append((self.totals[-1] if self.totals else 0) + n)

    def count_before(self, stamp: int) -> int:
        """Records sent with a stamp strictly before ``stamp``."""
        i = bisect.bisect_left(self.stamps, stamp)
        return self.totals[i - 1] if i else 0

    @property
    def total(self) -> int:
        return self.totals[-1] if self.totals else 0


@dataclass(frozen=True)
class Update:
    """One room's typing update as the generator received it."""

    shard: int
    room: str
    received: int  # ns
    oldest: int  # smallest stamp named (ns)


def consumed_between(
    updates: Iterable[Update], timelines: dict[int, Timeline], t0: int, t1: int
) -> int:
    """Records the consumer got past between t0 and t1, summed over shards: per shard, the
    position at time t is the newest ``oldest`` stamp of an update received by t (all
    earlier records of the shard were in earlier batches)."""
    start: dict[int, int] = {}
    end: dict[int, int] = {}
    for u in updates:
        if u.received <= t0:
            start[u.shard] = max(start.get(u.shard, 0), u.oldest)
        if u.received <= t1:
            end[u.shard] = max(end.get(u.shard, 0), u.oldest)
    done = 0
    for shard, timeline in timelines.items():
        done += timeline.count_before(end.get(shard, 0)) - timeline.count_before(
            start.get(shard, 0)
        )
    return done


def calls_estimate(updates: Iterable[Update], gap_ns: int) -> dict[int, int]:
    """Function calls per shard, from two lower bounds, whichever is larger:

    * the most updates any one room of the shard got (exact when every room is in every
      batch: under load);
    * bursts of updates: one call's updates leave back to back, calls of a shard are
      sequential, so updates of a shard more than ``gap_ns`` apart come from different
      calls (exact when calls are a batching window apart: light load).
    """
    per_room: dict[tuple[int, str], int] = {}
    times: dict[int, list[int]] = {}
    for u in updates:
        per_room[(u.shard, u.room)] = per_room.get((u.shard, u.room), 0) + 1
        times.setdefault(u.shard, []).append(u.received)
    out: dict[int, int] = {}
    for shard, ts in times.items():
        ts.sort()
        bursts = 1 + sum(1 for a, b in zip(ts, ts[1:], strict=False) if b - a > gap_ns)
        most = max(n for (s, _), n in per_room.items() if s == shard)
        out[shard] = max(bursts, most)
    return out
