"""The stream batcher: which records go to the function, when, and what happens after.

Pure (no asyncio, no clock of its own): the shell feeds it records and the current time
and carries out its decisions. One ``ShardBatcher`` per shard and consumer. It follows
Lambda's Kinesis event source mapping (AWS Lambda Developer Guide, "Using Lambda with
Kinesis"):

* a batch is ready when ``batch_size`` records wait, or when the oldest waiting record has
  waited ``window_ms`` (MaximumBatchingWindowInSeconds), or when the invocation payload
  would pass 6 MB (Lambda's synchronous payload limit);
* one batch in flight per shard, so order is kept; the checkpoint moves only after
  success, so delivery is at least once;
* on a function error the batch is split in two and each half retried
  (BisectBatchOnFunctionError); as in Lambda, splitting does not count as a retry, so a
  poison record ends up alone and only it uses up the attempts;
* a response ``{"batchItemFailures": [{"itemIdentifier": <sequence number>}]}``
  (ReportBatchItemFailures) checkpoints up to the lowest failed record and retries from
  it; an identifier that is not in the batch makes the whole batch a failure, as in Lambda;
* after ``max_retry_attempts`` retries (MaximumRetryAttempts; -1 = forever, Lambda's
  default) the records go to the on-failure destination and the shard moves on. When the
  last attempt reported item failures, only the reported records go there: the function
  said the others succeeded.
"""

from __future__ import annotations

import base64
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hubbub.errors import UsageError
from hubbub.streams.base import Record

#: Lambda's payload limit for a synchronous invocation.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
_RECORD_OVERHEAD = 600  # bytes of JSON around one record's data in the event


@dataclass(frozen=True)
class BatchSettings:
    """An event source mapping's batching and retry settings (Lambda's names in comments)."""

    batch_size: int = 100  # BatchSize (Lambda's default for Kinesis)
    window_ms: float = 0.0  # MaximumBatchingWindowInSeconds, in ms
    max_retry_attempts: int = 3  # MaximumRetryAttempts; Lambda defaults to -1 (forever),
    #                              which would let one poison record stop the chat's shard
    bisect_on_error: bool = True  # BisectBatchOnFunctionError
    report_item_failures: bool = True  # FunctionResponseTypes: ["ReportBatchItemFailures"]
    max_buffered: int = 1000  # records held per shard; reading pauses beyond it

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= 10_000:
            raise UsageError("batch_size must be from 1 to 10000 (Lambda's range)")
        if not 0 <= self.window_ms <= 300_000:
            raise UsageError("window_ms must be from 0 to 300000 (Lambda: up to 300 s)")
        if self.max_retry_attempts < -1:
            raise UsageError("max_retry_attempts must be -1 (forever) or more")
        if self.max_buffered < self.batch_size:
            raise UsageError("max_buffered must be at least batch_size")


@dataclass(frozen=True)
class Batch:
    shard_id: str
    records: tuple[Record, ...]
    attempt: int  # 1 for the first try of these records


@dataclass(frozen=True)
class Succeeded:
    pass


@dataclass(frozen=True)
class Failed:
    error: str


@dataclass(frozen=True)
class PartiallyFailed:
    failed_sequences: tuple[str, ...]


Outcome = Succeeded | Failed | PartiallyFailed


@dataclass(frozen=True)
class Discarded:
    """Records that used up their attempts: for the on-failure destination."""

    shard_id: str
    records: tuple[Record, ...]
    attempts: int
    reason: str


@dataclass(frozen=True)
class Decision:
    checkpoint: str | None  # store this sequence number as the consumer's checkpoint
    discarded: Discarded | None
    retrying: int  # records scheduled for another attempt


def _size(r: Record) -> int:
    return (len(r.data) + 2) // 3 * 4 + len(r.partition_key) + _RECORD_OVERHEAD


class ShardBatcher:
    """Batching state of one shard for one consumer."""

    def __init__(self, shard_id: str, settings: BatchSettings) -> None:
        self.shard_id = shard_id
        self.settings = settings
        self._buffer: deque[Record] = deque()
        self._since: float | None = None  # when the oldest buffered record arrived here
        self._retries: deque[tuple[tuple[Record, ...], int]] = deque()  # (records, tries)
        self._in_flight: Batch | None = None

    @property
    def in_flight(self) -> Batch | None:
        return self._in_flight

    @property
    def held(self) -> int:
        """Records offered and not yet checkpointed or discarded."""
        n = len(self._buffer) + sum(len(r) for r, _ in self._retries)
        return n + (len(self._in_flight.records) if self._in_flight else 0)

    def room(self) -> int:
        """How many more records the shell may read and offer now."""
        return max(0, self.settings.max_buffered - self.held)

    def offer(self, records: Sequence[Record], now_ms: float) -> None:
        if len(records) > self.room():
            raise UsageError(f"offered {len(records)} records, room for {self.room()}")
        if records and self._since is None:
            self._since = now_ms
        self._buffer.extend(records)

    def deadline(self) -> float | None:
        """When (ms) ``next_batch`` will have a batch without new input; None: not by
        waiting (nothing buffered, or a batch is in flight)."""
        if self._in_flight is not None:
            return None
        if self._retries:
            return float("-inf")  # now
        if self._since is None:
            return None
        if len(self._buffer) >= self.settings.batch_size:
            return float("-inf")
        return self._since + self.settings.window_ms

    def next_batch(self, now_ms: float) -> Batch | None:
        """The batch to send now, if one is ready and none is in flight."""
        if self._in_flight is not None:
            return None
        if self._retries:
            records, tries = self._retries.popleft()
            self._in_flight = Batch(self.shard_id, records, tries + 1)
            return self._in_flight
        deadline = self.deadline()
        if deadline is None or (now_ms < deadline and not self._payload_full()):
            return None
        taken: list[Record] = []
        size = 0
        while self._buffer and len(taken) < self.settings.batch_size:
            nxt = _size(self._buffer[0])
            if taken and size + nxt > MAX_PAYLOAD_BYTES:
                break
            taken.append(self._buffer.popleft())
            size += nxt
        if not self._buffer:
            self._since = None  # the rest (if any) keeps its waiting time
        self._in_flight = Batch(self.shard_id, tuple(taken), 1)
        return self._in_flight

    def _payload_full(self) -> bool:
        size = 0
        for r in self._buffer:
            size += _size(r)
            if size > MAX_PAYLOAD_BYTES:
                return True
        return False

    def complete(self, batch: Batch, outcome: Outcome) -> Decision:
        """Record the function's outcome for the in-flight batch; say what to do next."""
        if batch is not self._in_flight:
            raise UsageError("complete() for a batch that is not in flight")
        self._in_flight = None
        records = batch.records
        match outcome:
            case Succeeded() | PartiallyFailed(()):
                return Decision(records[-1].sequence_number, None, 0)
            case PartiallyFailed(failed):
                index = {r.sequence_number: i for i, r in enumerate(records)}
                if not all(s in index for s in failed):
                    return self._failed(batch, records, 0, "invalid batchItemFailures")
                first = min(index[s] for s in failed)
                return self._failed(batch, records, first, "partial batch failure",
                                    reported=frozenset(failed))
            case Failed(error):
                return self._failed(batch, records, 0, error)
        raise UsageError(f"unknown outcome {outcome!r}")  # pragma: no cover

    def _failed(self, batch: Batch, records: tuple[Record, ...], first: int, reason: str,
                reported: frozenset[str] | None = None) -> Decision:
        done = records[first - 1].sequence_number if first > 0 else None
        rest = records[first:]
        s = self.settings
        if reported is None and s.bisect_on_error and len(rest) > 1:
            half = len(rest) // 2
            # Splitting is not a retry (Lambda): both halves keep the attempt count.
            self._retries.appendleft((rest[half:], batch.attempt - 1))
            self._retries.appendleft((rest[:half], batch.attempt - 1))
            return Decision(done, None, len(rest))
        if s.max_retry_attempts == -1 or batch.attempt <= s.max_retry_attempts:
            self._retries.appendleft((rest, batch.attempt))
            return Decision(done, None, len(rest))
        dead = tuple(r for r in rest if r.sequence_number in reported) if reported else rest
        return Decision(rest[-1].sequence_number,
                        Discarded(self.shard_id, dead, batch.attempt, reason), 0)


# --- the function's side: event in, response out -----------------------------------------


def outcome_from_response(response: Any, report_item_failures: bool) -> Outcome:
    """Read a function's response the way Lambda does for Kinesis."""
    if not report_item_failures or response is None:
        return Succeeded()
    if not isinstance(response, dict) or "batchItemFailures" not in response:
        return Succeeded()  # Lambda: a response without the field is a full success
    failures = response["batchItemFailures"]
    if failures is None:
        return Succeeded()
    if not isinstance(failures, list):
        return Failed("batchItemFailures is not a list")
    ids = []
    for f in failures:
        ident = f.get("itemIdentifier") if isinstance(f, dict) else None
        if not isinstance(ident, str) or not ident:
            return Failed("batchItemFailures entry without an itemIdentifier")
        ids.append(ident)
    return PartiallyFailed(tuple(ids))


@dataclass(frozen=True)
class EventSource:
    """Where the records come from, for the ARNs of the event (AWS account/region shape)."""

    stream: str
    region: str = "local"
    account: str = "000000000000"
    function_name: str = "function"

    @property
    def stream_arn(self) -> str:
        return f"arn:aws:kinesis:{self.region}:{self.account}:stream/{self.stream}"

    @property
    def function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{self.function_name}"


def kinesis_event(source: EventSource, records: Sequence[Record]) -> dict[str, Any]:
    """The event Lambda passes to a function for a batch of Kinesis records."""
    return {"Records": [{
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": r.partition_key,
            "sequenceNumber": r.sequence_number,
            "data": base64.b64encode(r.data).decode("ascii"),
            "approximateArrivalTimestamp": r.arrival,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{r.shard_id}:{r.sequence_number}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": f"arn:aws:iam::{source.account}:role/hubbub-stream-consumer",
        "awsRegion": source.region,
        "eventSourceARN": source.stream_arn,
    } for r in records]}


def failure_record(source: EventSource, d: Discarded, now_s: float,
                   request_id: str) -> dict[str, Any]:
    """What Lambda sends to an on-failure destination for a Kinesis batch."""
    first, last = d.records[0] if d.records else None, d.records[-1] if d.records else None
    return {
        "requestContext": {"requestId": request_id, "functionArn": source.function_arn,
                           "condition": "RetryAttemptsExhausted",
                           "approximateInvokeCount": d.attempts},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST",
                            "functionError": d.reason},
        "version": "1.0",
        "timestamp": datetime.fromtimestamp(now_s, UTC).isoformat().replace("+00:00", "Z"),
        "KinesisBatchInfo": {
            "shardId": d.shard_id,
            "startSequenceNumber": first.sequence_number if first else None,
            "endSequenceNumber": last.sequence_number if last else None,
            "approximateArrivalOfFirstRecord": first.arrival if first else None,
            "approximateArrivalOfLastRecord": last.arrival if last else None,
            "batchSize": len(d.records),
            "streamArn": source.stream_arn,
        },
        # hubbub extension: the records themselves, since retention may drop them first.
        "records": kinesis_event(source, d.records)["Records"],
    }
