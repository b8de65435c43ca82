"""Measure the Redis fan-out between two nodes (not a test; run it by hand):

    .venv/bin/python -m tests.integration.multinode.measure_fanout [messages] [payload bytes]

Two ``RedisFanout`` instances on one real redis-server; node A's observer hook is fed as
fast as the event loop allows, node B counts what it routes. Variants:

- ``batched``: the implementation as shipped (everything pending in one PUBLISH), the
  loop yielding every 1000 messages (a busy broker reading many sockets per tick);
- ``batched, yield each``: the same, yielding after every message (one socket);
- ``one per PUBLISH``: batches capped at one message, still pipelined per round trip;
- ``await each``: a QoS 1 publisher that waits for each message's future (one round trip
  per message, what a naive ``await redis.publish(...)`` per message costs).
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from hubbub.broker.message import Message
from hubbub.broker.retained import RetainedStore
from hubbub.fanout.redis import RedisFanout
from tests import servers


class CountingBroker:
    """What the fan-out needs from a broker, counting routed messages."""

    def __init__(self, expect: int) -> None:
        self.retained = RetainedStore()
        self.sessions: dict[str, Any] = {}
        self.expect = expect
        self.routed = 0
        self.done = asyncio.Event()

    def route(self, msg: Message) -> None:
        self.routed += 1
        if self.routed >= self.expect:
            self.done.set()

    fan_out = route


async def run(url: str, n: int, size: int, variant: str) -> tuple[float, int]:
    opts: dict[str, Any] = {"max_pending": n + 1}
    if variant == "one per PUBLISH":
        opts["max_batch_bytes"] = 1
    a = RedisFanout(url, node_id=f"a-{variant}", channel=f"m:{variant}", **opts)
    b = RedisFanout(url, node_id=f"b-{variant}", channel=f"m:{variant}")
    sink = CountingBroker(n)
    await a.start(CountingBroker(0))  # type: ignore[arg-type]
    await b.start(sink)  # type: ignore[arg-type]
    payload = b"x" * size
    qos = 1 if variant == "await each" else 0
    t0 = time.perf_counter()
    for i in range(n):
        fut = a.on_publish(Message("bench/t", payload, qos, False, created_at=float(i)), None)
        if fut is not None:
            await fut
        elif i % 1000 == 999 or variant == "batched, yield each":
            await asyncio.sleep(0)  # let the sender run, as a busy broker's loop would
    try:
        await asyncio.wait_for(sink.done.wait(), 30)
    except TimeoutError:
        print(f"    {variant}: B routed {sink.routed} of {n}; B's counters: {b.stats()}")
    elapsed = time.perf_counter() - t0
    batches = a.counters["batches_out"]
    await a.stop()
    await b.stop()
    return n / elapsed, batches


async def main(n: int, size: int) -> None:
    with servers.redis_server() as srv:
        print(f"{n} messages of {size} bytes, node A -> Redis -> node B")
        for variant in ("batched", "batched, yield each", "one per PUBLISH", "await each"):
            count = n if variant != "await each" else min(n, 5000)
            rate, batches = await run(srv.url, count, size, variant)
            print(f"  {variant:20} {rate:>10,.0f} msg/s  ({batches} PUBLISH commands "
                  f"for {count} messages)")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    asyncio.run(main(args[0] if args else 50_000, args[1] if len(args) > 1 else 100))
