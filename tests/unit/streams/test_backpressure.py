"""Backpressure pieces of the stream (issue 6): the ingest limiter (pure), the SQLite
engine's coalesced appends and tail cache, the consumer driving the backlog bound, and
the wiring's settings. Waits are on events and tasks, never timed sleeps."""

from __future__ import annotations

import ast
import asyncio
import base64
import inspect
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubbub.errors import ConfigError
from hubbub.stream_wiring import lag_target_ms, max_backlog
from hubbub.streams import create_stream_engine, pressure
from hubbub.streams.base import Record, StreamSpec, shard_id
from hubbub.streams.batcher import BatchSettings
from hubbub.streams.common import TailCache
from hubbub.streams.consumer import StreamConsumer
from hubbub.streams.pressure import IngestLimiter

S0 = shard_id(0)


# --- the limiter: pure ---------------------------------------------------------------


def test_the_limiter_module_is_pure() -> None:
    tree = ast.parse(inspect.getsource(pressure))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                for a in n.names}
    imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree)
                 if isinstance(n, ast.ImportFrom)}
    assert not imported & {"asyncio", "socket", "time"}


def test_the_limiter_halves_over_target_and_grows_under_it() -> None:
    lim = IngestLimiter(target=0.01, period=0.01, min_rate=10, max_rate=1000, rate=400,
                        tokens=0)
    lim.tick(0.02)
    assert lim.rate == 200 and lim.ticks_over == 1
    assert lim.tokens == 600  # 30 ms passed, not 10: tokens for the time that passed
    lim.tick(0.5)
    lim.tick(0.5)
    lim.tick(0.5)
    assert lim.rate == 25
    lim.tick(0.5)
    assert lim.rate == 12.5
    lim.tick(0.5)
    assert lim.rate == 10  # the floor: the stream is slowed, never shut
    lim.tick(0.0)
    assert lim.rate == 11  # + a tenth, at least one record
    for _ in range(200):
        lim.tick(0.0)
    assert lim.rate == 1000  # the ceiling
    assert lim.tokens == 1000  # one tick's worth at most: no burst after a quiet spell


def test_tokens_are_spent_and_a_large_put_goes_into_debt() -> None:
    lim = IngestLimiter(rate=10, tokens=3)
    assert lim.take(2) and lim.tokens == 1
    assert lim.take(500) and lim.tokens == -499  # one put of many records is not starved
    assert not lim.take(1)
    lim.tick(0.0)  # refills by the rate: still in debt
    assert lim.tokens < 0 and not lim.take(1)
    lim.tokens = 0.5
    assert not lim.take(1)  # a whole token or none


@given(st.lists(st.floats(min_value=0, max_value=1), max_size=300))
def test_the_rate_stays_within_its_bounds(lags: list[float]) -> None:
    lim = IngestLimiter(target=0.01, min_rate=5, max_rate=5000, rate=100, tokens=100)
    for lag in lags:
        lim.tick(lag)
        assert 5 <= lim.rate <= 5000
        assert lim.tokens <= lim.rate * (lim.period + lag) / lim.period


# --- the tail cache -------------------------------------------------------------------


def _rows(first: int, n: int, arrival: float = 100.0) -> list[tuple[str, str, bytes, float]]:
    return [(f"{i:040d}", "k", b"%d" % i, arrival) for i in range(first, first + n)]


def test_tail_cache_serves_reads_near_the_tail() -> None:
    tail = TailCache(S0, size=4)
    assert tail.read(0, 10, 0.0) is None  # empty: ask the store
    tail.append(5, _rows(5, 3))  # 5, 6, 7
    assert tail.read(3, 10, 0.0) is None  # 4 is not here
    got = tail.read(4, 10, 0.0)
    assert got is not None and [r.data for r in got] == [b"5", b"6", b"7"]
    assert all(isinstance(r, Record) and r.shard_id == S0 for r in got)
    assert [r.data for r in tail.read(5, 1, 0.0) or []] == [b"6"]
    assert tail.read(7, 10, 0.0) == []  # caught up
    assert tail.read(99, 10, 0.0) == []
    tail.append(8, _rows(8, 6))  # 5..13: more than 2 * size, trimmed to the newest 4
    assert tail.read(8, 10, 0.0) is None
    assert [r.data for r in tail.read(9, 10, 0.0) or []] == [b"10", b"11", b"12", b"13"]
    tail.append(20, _rows(20, 1))  # a gap: start over
    assert tail.read(13, 10, 0.0) is None
    assert [r.data for r in tail.read(19, 10, 0.0) or []] == [b"20"]


def test_tail_cache_hides_expired_records() -> None:
    tail = TailCache(S0, size=10)
    tail.append(1, _rows(1, 2, arrival=10.0) + _rows(3, 2, arrival=50.0))
    assert [r.data for r in tail.read(0, 10, 20.0) or []] == [b"3", b"4"]
    assert [r.data for r in tail.read(0, 1, 20.0) or []] == [b"3"]


# --- the SQLite engine: coalesced appends, cache equals the file ---------------------


async def test_concurrent_puts_share_append_jobs_and_the_cache_matches_the_file(
        tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    engine = create_stream_engine("sqlite", path, tail_cache=1000)
    await engine.open()
    try:
        await engine.create_stream(StreamSpec("s", shard_count=2))
        results = await asyncio.gather(*(engine.put_record("s", f"k{i % 7}", b"%d" % i)
                                         for i in range(300)))
        assert engine.stats.accepted == 300
        assert engine.appends < 300  # coalesced: many puts per append job
        for sid in (S0, shard_id(1)):
            seqs = [int(r.sequence_number) for r in results if r.shard_id == sid]
            assert seqs == list(range(1, len(seqs) + 1))  # dense, in put order
        cached = [await engine.read("s", sid, "0" * 40, 10_000) for sid in (S0, shard_id(1))]
    finally:
        await engine.close()
    reopened = create_stream_engine("sqlite", path)  # no cache: reads the file
    await reopened.open()
    try:
        await reopened.create_stream(StreamSpec("s", shard_count=2))
        stored = [await reopened.read("s", sid, "0" * 40, 10_000)
                  for sid in (S0, shard_id(1))]
    finally:
        await reopened.close()
    assert cached == stored
    assert sum(len(x) for x in stored) == 300


# --- the consumer drives the backlog bound -------------------------------------------


@pytest.fixture(params=["memory", "sqlite"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    kind = request.param
    e = (create_stream_engine("sqlite", tmp_path / "s.db", max_backlog=10, max_delay=30.0)
         if kind == "sqlite" else create_stream_engine("memory", max_backlog=10,
                                                       max_delay=30.0))
    await e.open()
    await e.create_stream(StreamSpec("chat", shard_count=1))
    try:
        yield e
    finally:
        await e.close()


async def test_a_burst_beyond_the_bound_waits_for_the_consumer_and_none_is_lost(
        engine: Any) -> None:
    got: list[bytes] = []

    async def fn(event: dict[str, Any]) -> None:
        got.extend(base64.b64decode(r["kinesis"]["data"]) for r in event["Records"])

    c = StreamConsumer(engine, "chat", "fn", fn, poll_interval=60,
                       settings=BatchSettings(batch_size=5, max_buffered=10))
    await c.start()
    try:
        await asyncio.wait_for(asyncio.gather(
            *(engine.put_record("chat", "room", b"%d" % i) for i in range(60))), 10)
        await asyncio.wait_for(c.wait_caught_up(), 10)
        assert engine.backlog("chat", S0) == 0
    finally:
        await c.stop()
    assert got == [b"%d" % i for i in range(60)]  # all of them, in order, none shed
    assert engine.stats.shed == 0 and engine.stats.delayed > 0
    assert await engine.get_checkpoint("chat", "fn", S0) == f"{60:040d}"


async def test_a_stopped_consumer_no_longer_bounds_the_stream(engine: Any) -> None:
    async def fn(event: dict[str, Any]) -> None:
        return None

    c = StreamConsumer(engine, "chat", "fn", fn, poll_interval=60)
    await c.start()
    await c.stop()
    engine.max_delay = 0
    await engine.put_records("chat", [("room", b"x")] * 20)  # over 10: nobody reads here
    assert engine.stats.shed == 0


# --- wiring settings -----------------------------------------------------------------


class _Decl:
    def __init__(self, *sizes: int) -> None:
        self.consumers = [type("C", (), {"batch_size": n})() for n in sizes]


def test_backlog_setting_and_default() -> None:
    streams = {"chat": _Decl(500), "other": _Decl(100, 50)}
    assert max_backlog(streams, {}) == 2000  # four of the largest batch
    assert max_backlog({"s": _Decl(10)}, {}) == 1000  # at least MIN_BACKLOG
    assert max_backlog(streams, {"streamMaxBacklog": 0}) == 0  # no bound
    assert max_backlog(streams, {"streamMaxBacklog": 300}) == 300
    for bad in (-1, "many", 1.5, True):
        with pytest.raises(ConfigError, match="streamMaxBacklog"):
            max_backlog(streams, {"streamMaxBacklog": bad})


def test_lag_target_setting() -> None:
    assert lag_target_ms({}) == 5
    assert lag_target_ms({"streamIngestLagTargetMs": 0}) == 0
    assert lag_target_ms({"streamIngestLagTargetMs": 25}) == 25
    for bad in (-5, "x", 2.5, False):
        with pytest.raises(ConfigError, match="streamIngestLagTargetMs"):
            lag_target_ms({"streamIngestLagTargetMs": bad})
