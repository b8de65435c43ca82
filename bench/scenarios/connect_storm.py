"""Connection storm: open C MQTT connections as fast as the broker accepts them."""

from __future__ import annotations

import asyncio
import time

from bench import stats
from bench.client import Conn, connect_client
from bench.context import Context, Result, close_all
from bench.scenarios.base import Scenario

CONCURRENCY = 100  # in flight at once: the listen backlog of asyncio servers (100); more only
# measures SYN retransmission (1 s) once the backlog overflows, not the broker


async def run(ctx: Context) -> Result:
    total = 1_000 if ctx.quick else 5_000
    gate = asyncio.Semaphore(CONCURRENCY)
    times: list[int] = []
    conns: list[Conn] = []
    errors: dict[str, int] = {}

    async def one() -> None:
        async with gate:
            t = time.perf_counter_ns()
            try:
                conns.append(await connect_client(ctx.target, ctx.client_id()))
                times.append(time.perf_counter_ns() - t)
            except Exception as exc:  # counted and reported, not hidden
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1

    s0 = ctx.probe.snapshot()
    await asyncio.gather(*(one() for _ in range(total)))
    s1 = ctx.probe.snapshot()
    wall = s1.wall - s0.wall
    await close_all(conns)
    lat = stats.latency_summary(times)
    return {
        "params": {"connections": total, "concurrency": CONCURRENCY},
        "storm": {
            "connections_per_s": round(len(conns) / wall),
            "succeeded": len(conns),
            "failures": total - len(conns),
            "errors": errors,
            "connect_p50_ms": lat["p50_ms"],
            "connect_p99_ms": lat["p99_ms"],
            **ctx.probe.usage(s0, s1),
        },
    }


CONNECT_STORM = Scenario("connect-storm", "open C connections as fast as possible", run)
