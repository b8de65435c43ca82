"""Measure what the liveness records cost the fan-out (not a test; run it by hand):

    .venv/bin/python -m tests.integration.multinode.measure_liveness [pairs] [repeats]

Two ``RedisFanout`` instances on one real redis-server. Node A's observer hook is fed
``pairs`` connected + disconnected lifecycle events (its own, origin None: each one also
queues an HSET or HDEL of A's client record in the same pipeline); node B counts what it
routes. The loop yields every 1000 events, as a busy broker's would. Run it with
``PYTHONPATH`` pointing at an older ``src`` to compare side by side.
"""

from __future__ import annotations

import asyncio
import sys
import time

from hubbub.broker.lifecycle import DisconnectReason, connected, disconnected
from hubbub.broker.message import Message
from hubbub.fanout.redis import RedisFanout
from tests import servers

from .measure_fanout import CountingBroker


async def run(url: str, pairs: int, tag: str) -> float:
    a = RedisFanout(url, node_id=f"a-{tag}", channel=f"l:{tag}", max_pending=2 * pairs + 1)
    b = RedisFanout(url, node_id=f"b-{tag}", channel=f"l:{tag}")
    sink = CountingBroker(2 * pairs)
    await a.start(CountingBroker(0))  # type: ignore[arg-type]
    await b.start(sink)  # type: ignore[arg-type]
    events = []
    for i in range(pairs):
        cid = f"client-{i}"
        events.append(connected(cid, 1e9 + i, f"s{i}", f"p{i}", "10.0.0.1", 0))
        events.append(disconnected(cid, 1e9 + i, f"s{i}", f"p{i}",
                                   DisconnectReason.CLIENT_INITIATED_DISCONNECT, 0))
    t0 = time.perf_counter()
    for i, (topic, payload) in enumerate(events):
        a.on_publish(Message(topic, payload, 0, False, created_at=float(i)), None)
        if i % 1000 == 999:
            await asyncio.sleep(0)
    await asyncio.wait_for(sink.done.wait(), 60)
    elapsed = time.perf_counter() - t0
    await a.stop()
    await b.stop()
    return 2 * pairs / elapsed


async def main(pairs: int, repeats: int) -> None:
    import hubbub.fanout.redis as mod

    with servers.redis_server() as srv:
        print(f"{mod.__file__}: {pairs} connect/disconnect pairs, node A -> Redis -> node B")
        for r in range(repeats):
            rate = await run(srv.url, pairs, str(r))
            print(f"  run {r + 1}: {rate:>10,.0f} lifecycle events/s")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    asyncio.run(main(args[0] if args else 20_000, args[1] if len(args) > 1 else 3))
