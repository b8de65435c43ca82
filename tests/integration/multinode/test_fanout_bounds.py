"""The sender's bound, on a real redis-server without nodes: what does not fit in the
pending list is counted as unshared at once, what fits arrives in order in one batch."""

from __future__ import annotations

import asyncio
from typing import Any

from hubbub.broker.message import Message
from hubbub.broker.retained import RetainedStore
from hubbub.fanout.codec import encode_message
from hubbub.fanout.redis import SET_IF_NEWER, RedisFanout


class Sink:
    """What the fan-out needs from a broker; records what it routes."""

    def __init__(self, expect: int) -> None:
        self.retained = RetainedStore()
        self.sessions: dict[str, Any] = {}
        self.routed: list[bytes] = []
        self.expect = expect
        self.done = asyncio.Event()

    def route(self, msg: Message) -> None:
        self.routed.append(msg.payload)
        if len(self.routed) >= self.expect:
            self.done.set()

    fan_out = route


async def test_pending_list_is_bounded_by_count_and_bytes(redis_url: str) -> None:
    a = RedisFanout(redis_url, node_id="a", max_pending=5, max_pending_bytes=10_000)
    b = RedisFanout(redis_url, node_id="b")
    sink = Sink(5)
    await a.start(Sink(0))  # type: ignore[arg-type]
    await b.start(sink)  # type: ignore[arg-type]
    try:
        # No await in between: the sender cannot run, so the list fills up.
        acks = [a.on_publish(Message("t", str(i).encode(), 1), None) for i in range(20)]
        assert a.counters["unshared"] == 15 and a.stats()["pending"] == 5
        assert acks[5:] == [None] * 15  # not shared: the PUBACK does not wait
        assert len({id(f) for f in acks[:5]}) == 1  # one future for the pending batch
        await asyncio.wait_for(asyncio.gather(*[f for f in acks[:5] if f]), 10)
        await asyncio.wait_for(sink.done.wait(), 10)
        assert sink.routed == [b"0", b"1", b"2", b"3", b"4"]
        assert a.counters["batches_out"] == 1 and a.counters["shared"] == 5

        big = Message("t", b"x" * 6_000, 0)
        assert a.on_publish(big, None) is None and a.stats()["pending"] == 1
        a.on_publish(big, None)  # accepted: 12,000 bytes pending, over the byte bound
        a.on_publish(big, None)  # refused
        assert a.counters["unshared"] == 16 and a.stats()["pending"] == 2
    finally:
        await a.stop()
        await b.stop()


async def test_retained_hash_keeps_the_newest_entry(redis_url: str) -> None:
    import redis.asyncio as aioredis

    raw = aioredis.Redis.from_url(redis_url)
    try:
        newer = encode_message(Message("r", b"newer", 0, True, created_at=200.0))
        older = encode_message(Message("r", b"older", 0, True, created_at=100.0))
        gone = encode_message(Message("r", b"", 0, True, created_at=300.0))
        assert await raw.eval(SET_IF_NEWER, 1, "h", "r", newer) == 1
        assert await raw.eval(SET_IF_NEWER, 1, "h", "r", older) == 0
        assert await raw.hget("h", "r") == newer
        assert await raw.eval(SET_IF_NEWER, 1, "h", "r", gone) == 1  # a newer deletion
        assert await raw.hget("h", "r") == gone
    finally:
        await raw.aclose()


async def test_stop_flushes_what_is_pending(redis_url: str) -> None:
    a = RedisFanout(redis_url, node_id="a")
    b = RedisFanout(redis_url, node_id="b")
    sink = Sink(50)
    await a.start(Sink(0))  # type: ignore[arg-type]
    await b.start(sink)  # type: ignore[arg-type]
    try:
        for i in range(50):  # e.g. the broker's last lifecycle events at shutdown
            a.on_publish(Message("t", str(i).encode(), 0), None)
        await a.stop()
        assert a.counters["shared"] == 50 and a.counters["unshared"] == 0
        assert a.on_publish(Message("t", b"late", 0), None) is None  # after stop: counted
        assert a.counters["unshared"] == 1
        await asyncio.wait_for(sink.done.wait(), 10)
        assert sink.routed == [str(i).encode() for i in range(50)]
    finally:
        await b.stop()
