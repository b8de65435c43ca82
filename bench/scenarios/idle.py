"""Idle connections: hold N connected clients, measure the broker's RSS per connection."""

from __future__ import annotations

import asyncio
import time

from bench import mqttwire as mw
from bench.client import Conn
from bench.context import Context, Result, close_all
from bench.scenarios.base import Scenario

PING_SAMPLE = 100  # connections asked to PINGREQ at the end, to prove they are alive


async def run(ctx: Context) -> Result:
    total = 2_000 if ctx.quick else 10_000
    rss0 = ctx.probe.broker_rss()
    t0 = time.perf_counter()
    # Keep-alive 600 s: idle means no traffic at all during the hold.
    conns, failures = await ctx.connect_many(total, keepalive=600)
    setup_s = time.perf_counter() - t0
    try:
        await asyncio.sleep(0.5 if ctx.quick else 3.0)  # hold: the broker settles its buffers
        rss1 = ctx.probe.broker_rss()
        s0 = ctx.probe.snapshot()
        await asyncio.sleep(0.5 if ctx.quick else 1.0)
        s1 = ctx.probe.snapshot()
        alive = await _ping(conns[:PING_SAMPLE])
        return {
            "params": {"connections": total},
            "idle": {
                "connected": len(conns),
                "failures": failures,
                "open_s": round(setup_s, 2),
                "rss_mib": round(rss1 / 2**20, 1),
                "rss_per_conn_kib": round((rss1 - rss0) / max(1, len(conns)) / 1024, 2),
                "ping_alive": f"{alive}/{min(PING_SAMPLE, len(conns))}",
                **ctx.probe.usage(s0, s1),
            },
        }
    finally:
        await close_all(conns)


async def _ping(conns: list[Conn]) -> int:
    async def one(c: Conn) -> bool:
        try:
            await c.request(mw.PINGREQ_BYTES, mw.PINGRESP, timeout=5.0)
            return True
        except (OSError, TimeoutError):  # refused, reset or silent: not alive
            return False

    return sum(await asyncio.gather(*(one(c) for c in conns)))


IDLE_10K = Scenario("idle-10k", "hold 10,000 idle connections; RSS per connection", run)
