"""The pure batcher, driven with explicit times (ms) and scripted function outcomes."""

from __future__ import annotations

import ast
import base64
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hubbub.streams.base as base_module
import hubbub.streams.batcher as batcher_module
from hubbub.errors import UsageError
from hubbub.streams.base import Record, format_sequence, shard_id
from hubbub.streams.batcher import (
    Batch,
    BatchSettings,
    Discarded,
    EventSource,
    Failed,
    Outcome,
    PartiallyFailed,
    ShardBatcher,
    Succeeded,
    failure_record,
    kinesis_event,
    outcome_from_response,
)

SID = shard_id(0)


def recs(n: int, start: int = 1, size: int = 4) -> list[Record]:
    return [Record(SID, format_sequence(i), f"k{i}", b"x" * size, 1000.0 + i)
            for i in range(start, start + n)]


def seqs(rs: tuple[Record, ...] | list[Record]) -> list[int]:
    return [int(r.sequence_number) for r in rs]


@pytest.mark.parametrize("module", [batcher_module, base_module])
def test_pure_modules_import_no_io(module: object) -> None:
    tree = ast.parse(Path(module.__file__).read_text())  # type: ignore[attr-defined]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    assert not names & {"asyncio", "socket", "time", "threading", "sqlite3"}


def test_batch_size_and_one_batch_in_flight() -> None:
    b = ShardBatcher(SID, BatchSettings(batch_size=100))
    b.offer(recs(250), 0)
    first = b.next_batch(0)
    assert first is not None and seqs(first.records) == list(range(1, 101))
    assert b.next_batch(0) is None  # one in flight per shard
    assert b.complete(first, Succeeded()).checkpoint == format_sequence(100)
    second = b.next_batch(0)
    assert second is not None and seqs(second.records) == list(range(101, 201))
    b.complete(second, Succeeded())
    third = b.next_batch(0)
    assert third is not None and len(third.records) == 50 and third.attempt == 1
    assert b.complete(third, Succeeded()).checkpoint == format_sequence(250)
    assert b.next_batch(10**9) is None and b.held == 0 and b.deadline() is None


def test_batching_window() -> None:
    b = ShardBatcher(SID, BatchSettings(batch_size=10, window_ms=1000))
    assert b.deadline() is None
    b.offer(recs(3), 5000)
    assert b.deadline() == 6000
    assert b.next_batch(5999) is None
    b.offer(recs(2, start=4), 5500)  # later records do not restart the window
    batch = b.next_batch(6000)
    assert batch is not None and seqs(batch.records) == [1, 2, 3, 4, 5]
    b.complete(batch, Succeeded())
    b.offer(recs(10, start=6), 7000)  # a full batch does not wait for the window
    assert b.deadline() == float("-inf")
    full = b.next_batch(7000)
    assert full is not None and len(full.records) == 10


def test_payload_limit_splits_big_records() -> None:
    b = ShardBatcher(SID, BatchSettings(batch_size=100, window_ms=60_000))
    b.offer(recs(9, size=1024 * 1024), 0)
    batch = b.next_batch(0)  # 6 MB reached: ready before the window ends
    assert batch is not None and len(batch.records) == 4
    b.complete(batch, Succeeded())
    batch = b.next_batch(0)
    assert batch is not None and len(batch.records) == 4
    b.complete(batch, Succeeded())
    assert b.next_batch(0) is None  # one record left: waits for its window
    assert b.next_batch(60_000) is not None


def test_bounded_buffer() -> None:
    b = ShardBatcher(SID, BatchSettings(batch_size=10, max_buffered=25))
    b.offer(recs(25), 0)
    assert b.room() == 0
    with pytest.raises(UsageError):
        b.offer(recs(1, start=26), 0)
    batch = b.next_batch(0)
    assert batch is not None and b.room() == 0  # in flight still counts
    b.complete(batch, Succeeded())
    assert b.room() == 10


def test_bisect_isolates_a_poison_record() -> None:
    b = ShardBatcher(SID, BatchSettings(batch_size=8, max_retry_attempts=2))
    b.offer(recs(8), 0)
    sizes, checkpoints, discarded = [], [], []
    while (batch := b.next_batch(0)) is not None:
        sizes.append((seqs(batch.records), batch.attempt))
        outcome: Outcome = Failed("boom") if 6 in seqs(batch.records) else Succeeded()
        d = b.complete(batch, outcome)
        if d.checkpoint:
            checkpoints.append(int(d.checkpoint))
        if d.discarded:
            discarded.append(d.discarded)
    assert sizes == [
        ([1, 2, 3, 4, 5, 6, 7, 8], 1), ([1, 2, 3, 4], 1), ([5, 6, 7, 8], 1),
        ([5, 6], 1), ([5], 1), ([6], 1), ([6], 2), ([6], 3), ([7, 8], 1),
    ]
    assert checkpoints == [4, 5, 6, 8] and checkpoints == sorted(checkpoints)
    assert [seqs(d.records) for d in discarded] == [[6]]
    assert discarded[0].attempts == 3 and discarded[0].reason == "boom"


def test_without_bisect_the_whole_batch_is_retried_then_discarded() -> None:
    b = ShardBatcher(SID, BatchSettings(batch_size=4, bisect_on_error=False,
                                        max_retry_attempts=1))
    b.offer(recs(6), 0)
    batch = b.next_batch(0)
    assert batch is not None
    d = b.complete(batch, Failed("x"))
    assert d == type(d)(None, None, 4)
    retry = b.next_batch(0)
    assert retry is not None and retry.attempt == 2 and retry.records == batch.records
    d = b.complete(retry, Failed("x"))
    assert d.checkpoint == format_sequence(4)
    assert d.discarded == Discarded(SID, retry.records, 2, "x")
    rest = b.next_batch(0)
    assert rest is not None and seqs(rest.records) == [5, 6] and rest.attempt == 1


def test_infinite_retries_never_discard() -> None:
    b = ShardBatcher(SID, BatchSettings(batch_size=1, max_retry_attempts=-1))
    b.offer(recs(1), 0)
    for attempt in range(1, 60):
        batch = b.next_batch(0)
        assert batch is not None and batch.attempt == attempt
        assert b.complete(batch, Failed("x")).discarded is None
    assert b.held == 1


def test_partial_failure_checkpoints_before_first_failure() -> None:
    b = ShardBatcher(SID, BatchSettings(batch_size=10, max_retry_attempts=1))
    b.offer(recs(10), 0)
    batch = b.next_batch(0)
    assert batch is not None
    d = b.complete(batch, PartiallyFailed((format_sequence(7), format_sequence(4))))
    assert d.checkpoint == format_sequence(3) and d.retrying == 7
    retry = b.next_batch(0)
    assert retry is not None and seqs(retry.records) == list(range(4, 11))
    assert retry.attempt == 2
    # last attempt: only the records the function reported go to the destination
    d = b.complete(retry, PartiallyFailed((format_sequence(9),)))
    assert d.checkpoint == format_sequence(10)
    assert d.discarded is not None and seqs(d.discarded.records) == [9]


def test_partial_failure_edge_cases() -> None:
    b = ShardBatcher(SID, BatchSettings(batch_size=4))
    b.offer(recs(4), 0)
    batch = b.next_batch(0)
    assert batch is not None
    assert b.complete(batch, PartiallyFailed(())).checkpoint == format_sequence(4)
    b.offer(recs(4, start=5), 0)
    batch = b.next_batch(0)
    assert batch is not None
    # an identifier outside the batch: Lambda treats the whole batch as failed (bisected)
    d = b.complete(batch, PartiallyFailed(("999",)))
    assert d.checkpoint is None and d.retrying == 4
    nxt = b.next_batch(0)
    assert nxt is not None and seqs(nxt.records) == [5, 6]
    with pytest.raises(UsageError):
        b.complete(batch, Succeeded())  # not the batch in flight


@pytest.mark.parametrize(("response", "expected"), [
    (None, Succeeded()), ("ok", Succeeded()), ({}, Succeeded()), ([1, 2], Succeeded()),
    ({"batchItemFailures": []}, PartiallyFailed(())),
    ({"batchItemFailures": None}, Succeeded()),
    ({"batchItemFailures": [{"itemIdentifier": "5"}, {"itemIdentifier": "3"}]},
     PartiallyFailed(("5", "3"))),
    ({"batchItemFailures": "5"}, Failed("batchItemFailures is not a list")),
    ({"batchItemFailures": [{"itemIdentifier": ""}]},
     Failed("batchItemFailures entry without an itemIdentifier")),
    ({"batchItemFailures": [{}]}, Failed("batchItemFailures entry without an itemIdentifier")),
    ({"batchItemFailures": [5]}, Failed("batchItemFailures entry without an itemIdentifier")),
])
def test_outcome_from_response(response: object, expected: Outcome) -> None:
    assert outcome_from_response(response, True) == expected
    assert outcome_from_response(response, False) == Succeeded()


def test_kinesis_event_shape() -> None:
    src = EventSource("chat", region="eu-west-1", account="123456789012", function_name="f")
    r = Record(SID, format_sequence(7), "chat/stream", b"\x00hi\xff", 1700000000.25)
    event = kinesis_event(src, [r])
    assert event == {"Records": [{
        "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "chat/stream",
                    "sequenceNumber": format_sequence(7),
                    "data": base64.b64encode(b"\x00hi\xff").decode(),
                    "approximateArrivalTimestamp": 1700000000.25},
        "eventSource": "aws:kinesis", "eventVersion": "1.0",
        "eventID": f"shardId-000000000000:{format_sequence(7)}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/hubbub-stream-consumer",
        "awsRegion": "eu-west-1",
        "eventSourceARN": "arn:aws:kinesis:eu-west-1:123456789012:stream/chat",
    }]}
    fr = failure_record(src, Discarded(SID, (r,), 4, "boom"), 1700000001.0, "req-1")
    assert fr["KinesisBatchInfo"] == {
        "shardId": SID, "startSequenceNumber": format_sequence(7),
        "endSequenceNumber": format_sequence(7),
        "approximateArrivalOfFirstRecord": 1700000000.25,
        "approximateArrivalOfLastRecord": 1700000000.25, "batchSize": 1,
        "streamArn": "arn:aws:kinesis:eu-west-1:123456789012:stream/chat"}
    assert fr["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert fr["requestContext"]["approximateInvokeCount"] == 4
    assert fr["timestamp"] == "2023-11-14T22:13:21Z"
    assert fr["records"] == event["Records"]


def test_settings_are_checked() -> None:
    for bad in [dict(batch_size=0), dict(batch_size=10_001), dict(window_ms=-1),
                dict(max_retry_attempts=-2), dict(batch_size=100, max_buffered=10)]:
        with pytest.raises(UsageError):
            BatchSettings(**bad)  # type: ignore[arg-type]


def drive(b: ShardBatcher, fn: Callable[[Batch], Outcome]) -> tuple[list[int], list[int],
                                                                      set[int]]:
    """Run the batcher to idle; returns checkpoints, discarded and successfully seen seqs."""
    checkpoints: list[int] = []
    discarded: list[int] = []
    ok: set[int] = set()
    for _ in range(10_000):
        batch = b.next_batch(0)
        if batch is None:
            return checkpoints, discarded, ok
        outcome = fn(batch)
        d = b.complete(batch, outcome)
        if isinstance(outcome, Succeeded):
            ok |= set(seqs(batch.records))
        elif isinstance(outcome, PartiallyFailed):
            failed = {int(s) for s in outcome.failed_sequences}
            ok |= {s for s in seqs(batch.records) if s not in failed}
        if d.checkpoint:
            checkpoints.append(int(d.checkpoint))
        if d.discarded:
            discarded.extend(seqs(d.discarded.records))
    raise AssertionError("did not finish")


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 60), batch_size=st.integers(1, 16), retries=st.integers(0, 3),
       bisect=st.booleans(), partial=st.booleans(),
       poison=st.sets(st.integers(1, 60), max_size=5))
def test_every_record_is_processed_or_discarded(n: int, batch_size: int, retries: int,
                                                bisect: bool, partial: bool,
                                                poison: set[int]) -> None:
    poison = {p for p in poison if p <= n}
    b = ShardBatcher(SID, BatchSettings(batch_size=batch_size, max_retry_attempts=retries,
                                        bisect_on_error=bisect))
    b.offer(recs(n), 0)

    def fn(batch: Batch) -> Outcome:
        bad = [r.sequence_number for r in batch.records if int(r.sequence_number) in poison]
        if not bad:
            return Succeeded()
        return PartiallyFailed(tuple(bad)) if partial else Failed("poison")

    checkpoints, discarded, ok = drive(b, fn)
    assert checkpoints == sorted(checkpoints) and checkpoints[-1] == n
    assert set(discarded) >= poison
    assert set(range(1, n + 1)) <= ok | set(discarded)
    if partial or bisect:
        assert set(discarded) == poison  # healthy records are never thrown away
    assert b.held == 0
