"""The stream contract: every engine (memory, sqlite, redis) passes the same tests."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest

from hubbub.errors import BadRequest, ConfigError, LimitExceeded
from hubbub.streams import create_stream_engine
from hubbub.streams.base import (
    SEQUENCE_DIGITS,
    StreamSpec,
    consumer_lag,
    shard_for_key,
    shard_id,
)

S0, S1 = shard_id(0), shard_id(1)


async def read_all(engine: Any, stream: str, sid: str, after: str | None = None,
                   limit: int = 7) -> list[Any]:
    out: list[Any] = []
    while batch := await engine.read(stream, sid, after, limit):
        assert len(batch) <= limit
        out.extend(batch)
        after = batch[-1].sequence_number
    return out


def test_shard_mapping_is_kinesis_md5_ranges() -> None:
    assert shard_id(3) == "shardId-000000000003"
    for key in ["a", "chat/stream", "room-1", "é", "x" * 256]:
        h = int(hashlib.md5(key.encode()).hexdigest(), 16)
        assert shard_for_key(key, 1) == 0
        assert shard_for_key(key, 2) == (0 if h <= 2**127 - 1 else 1)
        # 3 shards: starting hash keys 0, 2**128 // 3, 2 * (2**128 // 3) (CreateStream's split)
        third = 2**128 // 3
        assert shard_for_key(key, 3) == min(h // third, 2)
    spread = {shard_for_key(f"k{i}", 4) for i in range(200)}
    assert spread == {0, 1, 2, 3}


async def test_put_and_read_in_order(stream_engine: Any, clock: Any) -> None:
    await stream_engine.create_stream(StreamSpec("s", shard_count=2))
    assert stream_engine.shard_ids("s") == [S0, S1]
    results = []
    for i in range(20):
        clock.advance(0.5)
        results.append(await stream_engine.put_record("s", f"key{i % 5}", f"d{i}".encode()))
    for i, r in enumerate(results):
        assert r.shard_id == shard_id(shard_for_key(f"key{i % 5}", 2))
        assert r.sequence_number.isdigit() and len(r.sequence_number) == SEQUENCE_DIGITS
    for sid in (S0, S1):
        mine = [(i, r) for i, r in enumerate(results) if r.shard_id == sid]
        seqs = [r.sequence_number for _, r in mine]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        records = await read_all(stream_engine, "s", sid)
        assert [r.sequence_number for r in records] == seqs
        assert [r.data for r in records] == [f"d{i}".encode() for i, _ in mine]
        assert [r.partition_key for r in records] == [f"key{i % 5}" for i, _ in mine]
        assert all(r.shard_id == sid for r in records)
        assert [r.arrival for r in records] == [1_800_000_000.0 + 0.5 * (i + 1) for i, _ in mine]
        assert await stream_engine.latest_sequence("s", sid) == seqs[-1]
        # reading after a record gives exactly what follows it
        assert [r.sequence_number for r in await read_all(stream_engine, "s", sid, seqs[2])] \
            == seqs[3:]
        assert await stream_engine.read("s", sid, seqs[-1], 10) == []


async def test_put_records_batch_and_binary_data(stream_engine: Any) -> None:
    await stream_engine.create_stream(StreamSpec("s", shard_count=3))
    entries = [(f"p{i}", bytes([i % 256]) * (i * 100)) for i in range(50)]
    entries.append(("bin", bytes(range(256)) + b"\x00\xff"))
    results = await stream_engine.put_records("s", entries)
    assert len(results) == len(entries)
    stored = {}
    for sid in stream_engine.shard_ids("s"):
        for r in await read_all(stream_engine, "s", sid, limit=1000):
            stored[(r.shard_id, r.sequence_number)] = (r.partition_key, r.data)
    assert [stored[(r.shard_id, r.sequence_number)] for r in results] == entries


async def test_concurrent_puts_keep_per_shard_order(stream_engine: Any) -> None:
    await stream_engine.create_stream(StreamSpec("s", shard_count=4))
    results = await asyncio.gather(*(stream_engine.put_record("s", f"k{i}", b"%d" % i)
                                     for i in range(300)))
    assert len({(r.shard_id, r.sequence_number) for r in results}) == 300
    total = 0
    for sid in stream_engine.shard_ids("s"):
        records = await read_all(stream_engine, "s", sid, limit=1000)
        seqs = [int(r.sequence_number) for r in records]
        assert seqs == sorted(seqs)
        total += len(records)
    assert total == 300


async def test_retention_hides_and_trims(stream_engine: Any, clock: Any) -> None:
    await stream_engine.create_stream(StreamSpec("s", shard_count=1, retention_seconds=3600))
    old = [await stream_engine.put_record("s", "k", b"old%d" % i) for i in range(5)]
    clock.advance(1800)
    new = [await stream_engine.put_record("s", "k", b"new%d" % i) for i in range(3)]
    clock.advance(1801)  # the old ones are now past retention
    records = await read_all(stream_engine, "s", S0, limit=2)
    assert [r.data for r in records] == [b"new0", b"new1", b"new2"]
    # a checkpoint before the horizon resumes at the oldest unexpired record
    assert [r.data for r in await stream_engine.read("s", S0, old[1].sequence_number, 10)] \
        == [b"new0", b"new1", b"new2"]
    assert await stream_engine.trim_expired() == 5
    assert await stream_engine.trim_expired() == 0
    clock.advance(7200)
    assert await stream_engine.read("s", S0, None, 10) == []
    assert await stream_engine.trim_expired() == 3
    after = await stream_engine.put_record("s", "k", b"later")
    assert int(after.sequence_number) > int(new[-1].sequence_number)  # never goes back
    assert [r.data for r in await stream_engine.read("s", S0, None, 10)] == [b"later"]


async def test_checkpoints_per_consumer_and_shard(stream_engine: Any, clock: Any) -> None:
    await stream_engine.create_stream(StreamSpec("s", shard_count=2))
    assert await stream_engine.get_checkpoint("s", "fn", S0) is None
    results = [await stream_engine.put_record("s", f"k{i}", b"x") for i in range(10)]
    r0 = next(r for r in results if r.shard_id == S0)
    await stream_engine.set_checkpoint("s", "fn", S0, r0.sequence_number)
    assert await stream_engine.get_checkpoint("s", "fn", S0) == r0.sequence_number
    assert await stream_engine.get_checkpoint("s", "fn", S1) is None
    assert await stream_engine.get_checkpoint("s", "other", S0) is None
    clock.advance(2)
    lag = {lg.shard_id: lg for lg in await consumer_lag(stream_engine, "s", "fn", clock())}
    behind0 = [r for r in results if r.shard_id == S0][1:]
    assert lag[S0].pending == bool(behind0)
    assert lag[S0].age_ms == (2000.0 if behind0 else 0.0)
    assert lag[S1].pending and lag[S1].age_ms == 2000.0


async def test_stream_definitions(stream_engine: Any) -> None:
    await stream_engine.create_stream(StreamSpec("s", shard_count=2))
    await stream_engine.create_stream(StreamSpec("s", shard_count=2))  # idempotent
    with pytest.raises(BadRequest, match="resharding"):
        await stream_engine.create_stream(StreamSpec("s", shard_count=3))
    for bad in [StreamSpec("", 1), StreamSpec("a/b", 1), StreamSpec("s2", 0),
                StreamSpec("s2", True), StreamSpec("s2", 1, -5), "s2"]:
        with pytest.raises(BadRequest):
            await stream_engine.create_stream(bad)
    with pytest.raises(BadRequest, match="no stream"):
        await stream_engine.put_record("nope", "k", b"x")
    with pytest.raises(BadRequest, match="no stream"):
        stream_engine.shard_ids("nope")


async def test_bad_input_is_refused_clearly(stream_engine: Any) -> None:
    await stream_engine.create_stream(StreamSpec("s", shard_count=2))
    for pk, data in [("", b"x"), ("k" * 257, b"x"), (None, b"x"), (5, b"x"), ("k", "text"),
                     ("k", None), ("k", b"x" * (1024 * 1024 + 1))]:
        with pytest.raises(BadRequest):
            await stream_engine.put_record("s", pk, data)
    for records in [[], [("k", b"x")] * 501, [("k",)], ["k"], ("k", b"x"), None,
                    [("k", b"x" * 1024 * 1024)] * 6]:
        with pytest.raises(BadRequest):
            await stream_engine.put_records("s", records)
    for sid in ["shardId-000000000002", "shard-0", "shardId-00000000000x", None]:
        with pytest.raises(BadRequest):
            await stream_engine.read("s", sid, None, 10)
    for after in ["abc", "-1", "1" * 41, 5]:
        with pytest.raises(BadRequest):
            await stream_engine.read("s", S0, after, 10)
    for limit in [0, 10_001, "1", True]:
        with pytest.raises(BadRequest):
            await stream_engine.read("s", S0, None, limit)
    with pytest.raises(BadRequest):
        await stream_engine.set_checkpoint("s", "fn", S0, "not-a-number")
    with pytest.raises(BadRequest):
        await stream_engine.set_checkpoint("s", "", S0, "1")
    assert await stream_engine.read("s", S0, None, 10) == []  # nothing was stored
    assert await stream_engine.read("s", S1, None, 10) == []


async def test_wait_is_woken_by_a_put(stream_engine: Any) -> None:
    await stream_engine.create_stream(StreamSpec("s", shard_count=2))
    r = await stream_engine.put_record("s", "k", b"first")
    sid = r.shard_id
    seen = stream_engine.generation("s", sid)
    # nothing new: a zero timeout returns at once with the same generation
    assert await stream_engine.wait("s", sid, seen, 0) == seen
    waiter = asyncio.create_task(stream_engine.wait("s", sid, seen, 30))
    await asyncio.sleep(0)  # let the waiter block (a yield, not a timed sleep)
    assert not waiter.done()
    await stream_engine.put_record("s", "k", b"second")
    assert await asyncio.wait_for(waiter, 5) > seen
    # a put after reading the generation but before waiting is not missed
    seen = stream_engine.generation("s", sid)
    await stream_engine.put_record("s", "k", b"third")
    assert await asyncio.wait_for(stream_engine.wait("s", sid, seen, 30), 5) > seen


async def test_backpressure_refuses_beyond_the_buffer(stream_engine: Any) -> None:
    await stream_engine.create_stream(StreamSpec("s", shard_count=1))
    stream_engine.gate.max_in_flight = 5
    with pytest.raises(LimitExceeded):
        await stream_engine.put_records("s", [("k", b"x")] * 6)
    assert stream_engine.stats.rejected == 6

    async def put(i: int) -> bool:
        try:
            await stream_engine.put_record("s", "k", b"%d" % i)
            return True
        except LimitExceeded:
            return False

    ok = await asyncio.gather(*(put(i) for i in range(50)))
    assert stream_engine.stats.accepted == ok.count(True)
    assert stream_engine.stats.rejected == 6 + ok.count(False)
    assert stream_engine.stats.in_flight == 0
    assert len(await stream_engine.read("s", S0, None, 100)) == ok.count(True)


async def test_unknown_engine_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        create_stream_engine("kafka")


async def test_consumer_delivers_and_checkpoints_on_every_engine(stream_engine: Any) -> None:
    import base64

    from hubbub.streams.batcher import BatchSettings
    from hubbub.streams.consumer import StreamConsumer

    await stream_engine.create_stream(StreamSpec("s", shard_count=2))
    got: list[bytes] = []

    async def fn(event: dict[str, Any]) -> None:
        got.extend(base64.b64decode(r["kinesis"]["data"]) for r in event["Records"])

    c = StreamConsumer(stream_engine, "s", "fn", fn, poll_interval=60,
                       settings=BatchSettings(batch_size=10))
    await c.start()
    try:
        results = await stream_engine.put_records("s", [(f"k{i}", b"%d" % i) for i in range(40)])
        await asyncio.wait_for(c.wait_caught_up(), 5)
    finally:
        await c.stop()
    assert sorted(got) == sorted(b"%d" % i for i in range(40))
    for sid in (S0, S1):
        last = max((r.sequence_number for r in results if r.shard_id == sid), default=None)
        assert await stream_engine.get_checkpoint("s", "fn", sid) == last


# --- backpressure: the backlog bound and the ingest limiter (issue 6) -------------------


async def test_backlog_bound_sheds_beyond_the_bound_and_reopens(stream_engine: Any) -> None:
    await stream_engine.create_stream(StreamSpec("s", shard_count=1))
    stream_engine.backlog_bound.max_per_shard = 3
    stream_engine.max_delay = 0  # shed at once
    for i in range(5):  # no consumer attached: nobody reads here, nothing is bounded
        await stream_engine.put_record("s", "k", b"%d" % i)
    stream_engine.attach_consumer("s", "fn")  # it has those 5 to consume: over the bound
    assert stream_engine.backlog("s", S0) == 5
    with pytest.raises(LimitExceeded, match="not yet consumed"):
        await stream_engine.put_record("s", "k", b"over")
    records = await read_all(stream_engine, "s", S0)
    stream_engine.consumed("s", "fn", S0, records[:4])
    assert stream_engine.backlog("s", S0) == 1
    await stream_engine.put_records("s", [("k", b"x"), ("k", b"y")])
    assert stream_engine.backlog("s", S0) == 3
    with pytest.raises(LimitExceeded):  # all or none
        await stream_engine.put_records("s", [("k", b"p"), ("k", b"q")])
    assert stream_engine.stats.shed == 3
    assert stream_engine.stats.in_flight == 0
    stream_engine.detach_consumer("s", "fn")  # unbounded again
    await stream_engine.put_record("s", "k", b"free")
    assert stream_engine.stats.shed == 3
    assert [r.data for r in await read_all(stream_engine, "s", S0)][-3:] == [b"x", b"y", b"free"]
    assert stream_engine.stats.accepted == 8


async def test_a_put_over_the_bound_waits_for_the_consumer(stream_engine: Any) -> None:
    await stream_engine.create_stream(StreamSpec("s", shard_count=1))
    stream_engine.backlog_bound.max_per_shard = 2
    stream_engine.max_delay = 30.0  # long: the consumer, not the timeout, lets it in
    stream_engine.attach_consumer("s", "fn")
    await stream_engine.put_records("s", [("k", b"1"), ("k", b"2")])
    waiting = asyncio.create_task(stream_engine.put_record("s", "k", b"3"))
    await asyncio.sleep(0)  # let it find the shard full (a yield, not a timed sleep)
    await asyncio.sleep(0)
    assert not waiting.done()
    assert stream_engine.stats.delayed == 1 and stream_engine.stats.in_flight == 1
    first = await stream_engine.read("s", S0, None, 1)
    stream_engine.consumed("s", "fn", S0, first)
    result = await asyncio.wait_for(waiting, 5)
    assert result.shard_id == S0
    assert stream_engine.stats.shed == 0
    assert [r.data for r in await read_all(stream_engine, "s", S0)] == [b"1", b"2", b"3"]


async def test_a_put_that_waits_too_long_is_shed(stream_engine: Any) -> None:
    await stream_engine.create_stream(StreamSpec("s", shard_count=1))
    stream_engine.backlog_bound.max_per_shard = 1
    stream_engine.max_delay = 0.05  # the timeout under test
    stream_engine.attach_consumer("s", "fn")
    await stream_engine.put_record("s", "k", b"1")
    with pytest.raises(LimitExceeded):
        await asyncio.wait_for(stream_engine.put_record("s", "k", b"2"), 5)
    assert (stream_engine.stats.delayed, stream_engine.stats.shed) == (1, 1)
    assert stream_engine.stats.in_flight == 0
    assert stream_engine.backlog("s", S0) == 1


async def test_the_ingest_limiter_lets_puts_in_as_ticks_allow(stream_engine: Any) -> None:
    from hubbub.streams.pressure import IngestLimiter

    await stream_engine.create_stream(StreamSpec("s", shard_count=1))
    stream_engine.max_delay = 30.0
    stream_engine.limiter = IngestLimiter(target=0.01, period=1.0, min_rate=1, rate=1,
                                          tokens=1)
    await stream_engine.put_record("s", "k", b"1")  # the one token
    second = asyncio.create_task(stream_engine.put_record("s", "k", b"2"))
    third = asyncio.create_task(stream_engine.put_record("s", "k", b"3"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not second.done() and not third.done()
    stream_engine.tick(0.02)  # the loop is late: the rate halves (to its floor, 1)
    assert stream_engine.limiter.rate == 1
    await asyncio.wait_for(second, 5)  # one token per tick, in order
    assert not third.done()
    stream_engine.tick(0.0)
    await asyncio.wait_for(third, 5)
    assert [r.data for r in await read_all(stream_engine, "s", S0)] == [b"1", b"2", b"3"]
    assert stream_engine.stats.delayed == 2 and stream_engine.stats.shed == 0
    assert stream_engine.limiter.rate == 2  # a calm tick: the rate grows
    stream_engine.limiter.tokens = 0
    stream_engine.max_delay = 0.05  # no tick comes: shed
    with pytest.raises(LimitExceeded, match="event loop is busy"):
        await asyncio.wait_for(stream_engine.put_record("s", "k", b"4"), 5)
    assert stream_engine.stats.shed == 1 and stream_engine.stats.in_flight == 0


async def test_a_cancelled_waiting_put_leaves_no_trace(stream_engine: Any) -> None:
    await stream_engine.create_stream(StreamSpec("s", shard_count=1))
    stream_engine.backlog_bound.max_per_shard = 1
    stream_engine.max_delay = 30.0
    stream_engine.attach_consumer("s", "fn")
    await stream_engine.put_record("s", "k", b"1")
    waiting = asyncio.create_task(stream_engine.put_record("s", "k", b"2"))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert stream_engine.stats.in_flight == 0
    stream_engine.consumed("s", "fn", S0, await stream_engine.read("s", S0, None, 1))
    assert stream_engine.backlog("s", S0) == 0
    await stream_engine.put_record("s", "k", b"3")
    assert [r.data for r in await read_all(stream_engine, "s", S0)] == [b"1", b"3"]


async def test_closing_sheds_waiting_puts_at_once(stream_engine: Any) -> None:
    await stream_engine.create_stream(StreamSpec("s", shard_count=1))
    stream_engine.backlog_bound.max_per_shard = 1
    stream_engine.max_delay = 30.0
    stream_engine.attach_consumer("s", "fn")
    await stream_engine.put_record("s", "k", b"1")
    waiting = asyncio.create_task(stream_engine.put_record("s", "k", b"2"))
    await asyncio.sleep(0)
    stream_engine._drop_waiters()  # what close() does first
    with pytest.raises(LimitExceeded):
        await asyncio.wait_for(waiting, 5)
    assert stream_engine.stats.shed == 1 and stream_engine.stats.in_flight == 0
