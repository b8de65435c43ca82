"""The liveness registry's contract, run on the in-memory model and on real Redis (the Lua
scripts): beats, the election, the guarded end of a reap, records, a clean leave."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hubbub.fanout.liveness import Beat
from hubbub.fanout.registry import MemoryRegistry, RedisRegistry, Registry
from tests import servers

T0 = 1_800_000_000_000


def conn(ts: int) -> bytes:
    return b'{"timestamp":%d,"eventType":"connected"}' % ts


@pytest.fixture(params=["memory", "redis"])
async def registry(request: pytest.FixtureRequest) -> AsyncIterator[Registry]:
    if request.param == "memory":
        yield MemoryRegistry()
        return
    srv: servers.Server = request.getfixturevalue("redis_srv")
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(srv.url)
    await client.flushall()
    try:
        yield RedisRegistry(client, prefix="t:")
    finally:
        await client.aclose()


async def test_beats_register_and_list(registry: Registry) -> None:
    assert await registry.beat("a", T0, False) is Beat.UNKNOWN
    assert await registry.beat("a", T0 + 5, False) is Beat.ALIVE
    assert await registry.beat("b", T0 + 7, False) is Beat.UNKNOWN
    assert await registry.beats() == {"a": T0 + 5, "b": T0 + 7}


async def test_one_election_wins_and_only_while_the_node_is_stale(registry: Registry) -> None:
    await registry.beat("dead", T0, False)
    assert await registry.elect("dead", "b", T0 + 999, 1000, 60_000) is None  # not stale yet
    assert await registry.elect("dead", "b", T0 + 1001, 1000, 60_000) == T0
    assert await registry.elect("dead", "c", T0 + 1001, 1000, 60_000) is None  # b has it
    assert await registry.elect("ghost", "c", T0 + 1001, 1000, 60_000) is None  # unknown


async def test_a_node_beating_mid_reap_is_told_then_rejoins_after_it(
        registry: Registry) -> None:
    await registry.beat("a", T0, False)
    await registry.record("a", "alice", conn(T0))
    assert await registry.elect("a", "b", T0 + 2000, 1000, 60_000) == T0
    assert await registry.beat("a", T0 + 2001, False) is Beat.REAPING
    assert await registry.beat("a", T0 + 2001, True) is Beat.REAPING  # no rejoin mid-reap
    assert await registry.clients("a") == {"alice": conn(T0)}
    assert await registry.finish("a", "c") is False  # not c's lock: nothing happens
    assert await registry.beats() == {"a": T0}
    assert await registry.finish("a", "b") is True
    assert await registry.beats() == {} and await registry.clients("a") == {}
    assert await registry.finish("a", "b") is False  # once
    assert await registry.beat("a", T0 + 3000, False) is Beat.REAPED
    assert await registry.beat("a", T0 + 3000, True) is Beat.ALIVE
    assert await registry.beat("a", T0 + 3001, False) is Beat.ALIVE
    assert await registry.beats() == {"a": T0 + 3001}


async def test_records_and_holders(registry: Registry) -> None:
    await registry.record("a", "x", conn(T0))
    await registry.record("b", "x", conn(T0 + 5))
    await registry.record("b", "y", conn(T0 + 1))
    await registry.record("b", "bad", b"garbage")
    await registry.record("a", "gone", conn(T0))
    await registry.record("a", "gone", None)
    await registry.record("a", "never", None)
    assert await registry.clients("a") == {"x": conn(T0)}
    assert await registry.holders(["x", "y", "z", "bad"], ["a", "b"]) == \
        {"x": T0 + 5, "y": T0 + 1}
    assert await registry.holders(["x"], ["a"]) == {"x": T0}
    assert await registry.holders([], ["a"]) == {} and await registry.holders(["x"], []) == {}


async def test_a_clean_leave_removes_registration_and_records(registry: Registry) -> None:
    await registry.beat("a", T0, False)
    await registry.record("a", "x", conn(T0))
    await registry.leave("a")
    assert await registry.beats() == {} and await registry.clients("a") == {}
    assert await registry.beat("a", T0 + 1, False) is Beat.UNKNOWN  # no trace of a reap
