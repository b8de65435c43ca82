"""The consumer shell on real engines (memory and SQLite): events, checkpoints, retries,
restarts. Waits are on events the test sets, bounded by a timeout, never timed sleeps."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hubbub.errors import BadRequest, UsageError
from hubbub.streams import create_stream_engine
from hubbub.streams.base import StreamSpec, shard_id
from hubbub.streams.batcher import BatchSettings
from hubbub.streams.consumer import StreamConsumer

S0 = shard_id(0)


@pytest.fixture(params=["memory", "sqlite"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    if request.param == "sqlite":
        e = create_stream_engine("sqlite", tmp_path / "s.db")
    else:
        e = create_stream_engine("memory")
    await e.open()
    await e.create_stream(StreamSpec("chat", shard_count=2))
    try:
        yield e
    finally:
        await e.close()


class Function:
    """A fake function: records events, answers by a rule, signals when it saw a record."""

    def __init__(self, fail_on: set[bytes] = frozenset(), partial: bool = False) -> None:
        self.events: list[dict[str, Any]] = []
        self.seen: dict[bytes, int] = {}
        self.fail_on = fail_on
        self.partial = partial
        self.changed = asyncio.Event()

    async def __call__(self, event: dict[str, Any]) -> Any:
        self.events.append(event)
        datas = [base64.b64decode(r["kinesis"]["data"]) for r in event["Records"]]
        for d in datas:
            self.seen[d] = self.seen.get(d, 0) + 1
        self.changed.set()
        bad = [r for r, d in zip(event["Records"], datas, strict=True) if d in self.fail_on]
        if bad and self.partial:
            return {"batchItemFailures": [{"itemIdentifier": r["kinesis"]["sequenceNumber"]}
                                          for r in bad]}
        if bad:
            raise RuntimeError("poison")
        return None

    async def wait_for(self, datas: set[bytes], timeout: float = 5.0) -> None:
        async def until() -> None:
            while not datas <= set(self.seen):
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(until(), timeout)


async def test_records_reach_the_function_in_kinesis_shape(engine: Any) -> None:
    fn = Function()
    # A poll interval far beyond the test's timeout: only the in-process wake-up can work.
    c = StreamConsumer(engine, "chat", "fn", fn, poll_interval=60)
    await c.start()
    try:
        puts = [await engine.put_record("chat", f"room{i % 3}", b"r%d" % i) for i in range(12)]
        await fn.wait_for({b"r%d" % i for i in range(12)})
        await asyncio.wait_for(c.wait_caught_up(), 5)
    finally:
        await c.stop()
    records = [r for e in fn.events for r in e["Records"]]
    assert len(records) == 12
    rec = records[0]
    assert rec["eventSource"] == "aws:kinesis" and rec["eventName"] == "aws:kinesis:record"
    assert rec["eventID"] == f"{rec['eventID'].split(':')[0]}:{rec['kinesis']['sequenceNumber']}"
    assert rec["eventSourceARN"].endswith(":stream/chat")
    for e in fn.events:  # one shard per batch, in order
        shards = {r["eventID"].split(":")[0] for r in e["Records"]}
        assert len(shards) == 1
        s = [int(r["kinesis"]["sequenceNumber"]) for r in e["Records"]]
        assert s == sorted(s)
    for p in puts:  # every record was checkpointed
        ck = await engine.get_checkpoint("chat", "fn", p.shard_id)
        assert ck is not None and int(ck) >= int(p.sequence_number)
    assert c.stats.records_checkpointed == 12 and c.stats.batches_failed == 0
    assert set(c.iterator_age_ms()) <= {S0, shard_id(1)}


async def test_batching_window_folds_records_into_few_calls(engine: Any) -> None:
    fn = Function()
    await engine.put_records("chat", [("same-room", b"t%d" % i) for i in range(50)])
    c = StreamConsumer(engine, "chat", "fn", fn, settings=BatchSettings(batch_size=100),
                       poll_interval=60)
    await c.start()
    try:
        await fn.wait_for({b"t%d" % i for i in range(50)})
    finally:
        await c.stop()
    assert len(fn.events) == 1  # records already waiting go out as one batch


async def test_poison_record_goes_to_the_destination(engine: Any) -> None:
    fn = Function(fail_on={b"bad"})
    failures: list[dict[str, Any]] = []
    got_failure = asyncio.Event()

    async def destination(payload: dict[str, Any]) -> None:
        failures.append(payload)
        got_failure.set()

    entries = [("k", b"ok%d" % i) for i in range(6)]
    entries.insert(3, ("k", b"bad"))
    results = await engine.put_records("chat", entries)
    c = StreamConsumer(engine, "chat", "fn", fn, on_failure=destination, poll_interval=60,
                       settings=BatchSettings(batch_size=10, max_retry_attempts=2))
    await c.start()
    try:
        await asyncio.wait_for(got_failure.wait(), 5)
        await fn.wait_for({b"ok%d" % i for i in range(6)})
        await asyncio.wait_for(c.wait_caught_up(), 5)
    finally:
        await c.stop()
    # 7 records, bisected to 4, 2, then alone (splits are not retries), then 2 retries
    assert fn.seen[b"bad"] == 4 + 2
    [payload] = failures
    bad = results[3]
    assert payload["KinesisBatchInfo"]["startSequenceNumber"] == bad.sequence_number
    assert payload["KinesisBatchInfo"]["batchSize"] == 1
    assert base64.b64decode(payload["records"][0]["kinesis"]["data"]) == b"bad"
    assert c.stats.records_discarded == 1
    assert await engine.get_checkpoint("chat", "fn", bad.shard_id) == results[-1].sequence_number


async def test_partial_failures_retry_from_the_first_failed_record(engine: Any) -> None:
    fn = Function(fail_on={b"p2"}, partial=True)
    failures: list[dict[str, Any]] = []
    done = asyncio.Event()

    async def destination(payload: dict[str, Any]) -> None:
        failures.append(payload)
        done.set()

    await engine.put_records("chat", [("k", b"p%d" % i) for i in range(5)])
    c = StreamConsumer(engine, "chat", "fn", fn, on_failure=destination, poll_interval=60,
                       settings=BatchSettings(batch_size=10, max_retry_attempts=1))
    await c.start()
    try:
        await asyncio.wait_for(done.wait(), 5)
    finally:
        await c.stop()
    assert [fn.seen[b"p%d" % i] for i in range(5)] == [1, 1, 2, 2, 2]
    assert [base64.b64decode(r["kinesis"]["data"]) for r in failures[0]["records"]] == [b"p2"]


async def test_restart_resumes_after_the_checkpoint(engine: Any) -> None:
    fn = Function()
    c = StreamConsumer(engine, "chat", "fn", fn, poll_interval=60)
    await engine.put_records("chat", [("k", b"a%d" % i) for i in range(5)])
    await c.start()
    await fn.wait_for({b"a%d" % i for i in range(5)})
    await asyncio.wait_for(c.wait_caught_up(), 5)
    await c.stop()
    await engine.put_records("chat", [("k", b"b%d" % i) for i in range(5)])
    fn2 = Function()
    c2 = StreamConsumer(engine, "chat", "fn", fn2, poll_interval=60)
    await c2.start()
    try:
        await fn2.wait_for({b"b%d" % i for i in range(5)})
    finally:
        await c2.stop()
    assert set(fn2.seen) == {b"b%d" % i for i in range(5)}  # nothing delivered twice


async def test_latest_starting_position_skips_old_records(engine: Any) -> None:
    await engine.put_records("chat", [("k", b"old")])
    fn = Function()
    c = StreamConsumer(engine, "chat", "late", fn, poll_interval=60,
                       starting_position="LATEST")
    await c.start()
    try:
        # the shard tasks read their start position before the new put is made
        await asyncio.wait_for(c.wait_caught_up(), 5)
        await engine.put_records("chat", [("k", b"new")])
        await fn.wait_for({b"new"})
    finally:
        await c.stop()
    assert b"old" not in fn.seen


async def test_hung_function_times_out_and_is_retried(engine: Any) -> None:
    calls = 0
    ok = asyncio.Event()

    async def flaky(event: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.Event().wait()  # hangs forever
        ok.set()

    await engine.put_records("chat", [("k", b"x")])
    c = StreamConsumer(engine, "chat", "fn", flaky, poll_interval=60, invoke_timeout=0.05)
    await c.start()
    try:
        await asyncio.wait_for(ok.wait(), 5)
    finally:
        await c.stop()
    assert calls == 2 and c.stats.batches_failed == 1


async def test_misuse_is_refused(engine: Any) -> None:
    with pytest.raises(UsageError):
        StreamConsumer(engine, "chat", "fn", Function(),
                       starting_position="AT_TIMESTAMP")  # type: ignore[arg-type]
    with pytest.raises(BadRequest):
        StreamConsumer(engine, "chat", "", Function())
    c = StreamConsumer(engine, "nope", "fn", Function())
    with pytest.raises(BadRequest):
        await c.start()
    c = StreamConsumer(engine, "chat", "fn", Function(), poll_interval=60)
    await c.start()
    try:
        with pytest.raises(UsageError):
            await c.start()
        assert c.running
    finally:
        await c.stop()
    assert not c.running
