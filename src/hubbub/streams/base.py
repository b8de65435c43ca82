"""The stream (Kinesis Data Streams' model): the engine interface and its value types.

A stream has N shards. A record's partition key is hashed to a shard as Kinesis does: the
MD5 of the key, read as a 128-bit unsigned integer, falls into one of N equal hash-key
ranges (the ranges ``CreateStream`` makes when it splits the key space evenly). Within a
shard, sequence numbers increase and order is kept. Sequence numbers are strings of
digits, as in Kinesis; within one engine they all have ``SEQUENCE_DIGITS`` digits, so
that comparing them as strings and as integers agree. Records older than the stream's
retention (24 h by default, like Kinesis) are invisible and removed by ``trim_expired``.

Engines: ``memory`` (tests), ``sqlite`` (embedded, durable), ``redis`` (Redis Streams).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from hubbub.errors import BadRequest, LimitExceeded
from hubbub.streams.pressure import IngestLimiter

Clock = Callable[[], float]  # epoch seconds

SEQUENCE_DIGITS = 40
#: Kinesis limits: partition key 1..256 characters, data blob up to 1 MiB,
#: PutRecords up to 500 records and 5 MiB.
MAX_PARTITION_KEY = 256
MAX_DATA_BYTES = 1024 * 1024
MAX_PUT_RECORDS = 500
MAX_PUT_RECORDS_BYTES = 5 * 1024 * 1024
DEFAULT_RETENTION_S = 24 * 3600.0
_HASH_SPACE = 2**128


@dataclass(frozen=True)
class StreamSpec:
    """A stream's name, shard count and retention period."""

    name: str
    shard_count: int = 1
    retention_seconds: float = DEFAULT_RETENTION_S


@dataclass(frozen=True)
class Record:
    """One record as read back from a shard."""

    shard_id: str
    sequence_number: str
    partition_key: str
    data: bytes
    arrival: float  # approximate arrival time, epoch seconds


@dataclass(frozen=True)
class PutResult:
    shard_id: str
    sequence_number: str


@dataclass(frozen=True)
class ShardLag:
    """How far a consumer is behind on one shard."""

    shard_id: str
    checkpoint: str | None
    pending: bool  # records exist after the checkpoint
    age_ms: float  # age of the oldest record after the checkpoint (0 if none)


@dataclass
class StreamStats:
    accepted: int = 0  # records stored
    rejected: int = 0  # records refused because the put buffer was full (backpressure)
    shed: int = 0  # records refused because their shard's un-consumed backlog stayed full
    delayed: int = 0  # records that waited for backlog room (stored or shed after)
    in_flight: int = 0


def shard_id(index: int) -> str:
    """Kinesis' shard id format: ``shardId-000000000000``."""
    return f"shardId-{index:012d}"


def shard_index(sid: str, shard_count: int) -> int:
    """Parse and check a shard id against a stream; ``BadRequest`` if it is not one of its."""
    if (not isinstance(sid, str) or not sid.startswith("shardId-") or len(sid) != 20
            or not sid[8:].isdigit()):
        raise BadRequest(f"not a shard id: {sid!r}")
    i = int(sid[8:])
    if i >= shard_count:
        raise BadRequest(f"no shard {sid} (the stream has {shard_count})")
    return i


def shard_for_key(partition_key: str, shard_count: int) -> int:
    """The shard whose hash-key range holds MD5(partition_key) (Kinesis' mapping)."""
    h = int.from_bytes(hashlib.md5(partition_key.encode("utf-8")).digest(), "big")
    # Even split: shard i starts at i * (2**128 // n); the last shard takes the remainder.
    return min(h // (_HASH_SPACE // shard_count), shard_count - 1)


def format_sequence(n: int) -> str:
    return f"{n:0{SEQUENCE_DIGITS}d}"


def parse_sequence(s: object) -> int:
    if not isinstance(s, str) or not s.isdigit() or len(s) > SEQUENCE_DIGITS or not s.isascii():
        raise BadRequest(f"not a sequence number: {s!r}")
    return int(s)


def check_spec(spec: StreamSpec) -> StreamSpec:
    if not isinstance(spec, StreamSpec):
        raise BadRequest("create_stream needs a StreamSpec")
    if not isinstance(spec.name, str) or not spec.name or len(spec.name) > 128 or not all(
            c.isascii() and (c.isalnum() or c in "_.-") for c in spec.name):
        raise BadRequest(f"invalid stream name {spec.name!r} (Kinesis: [a-zA-Z0-9_.-]{{1,128}})")
    if isinstance(spec.shard_count, bool) or not isinstance(spec.shard_count, int) \
            or not 1 <= spec.shard_count <= 1024:
        raise BadRequest("shard_count must be an integer from 1 to 1024")
    if not isinstance(spec.retention_seconds, (int, float)) or spec.retention_seconds <= 0:
        raise BadRequest("retention_seconds must be positive")
    return spec


def check_record(partition_key: object, data: object) -> tuple[str, bytes]:
    if not isinstance(partition_key, str) or not 1 <= len(partition_key) <= MAX_PARTITION_KEY:
        raise BadRequest(f"partition key must be a string of 1 to {MAX_PARTITION_KEY} characters")
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise BadRequest(f"record data must be bytes, not {type(data).__name__}")
    if len(data) > MAX_DATA_BYTES:
        raise BadRequest(f"record data is larger than {MAX_DATA_BYTES} bytes")
    return partition_key, data


def check_records(records: object) -> list[tuple[str, bytes]]:
    if not isinstance(records, (list, tuple)) or not 1 <= len(records) <= MAX_PUT_RECORDS:
        raise BadRequest(f"put_records needs 1 to {MAX_PUT_RECORDS} (partition key, data) pairs")
    out: list[tuple[str, bytes]] = []
    for r in records:
        if not isinstance(r, (list, tuple)) or len(r) != 2:
            raise BadRequest("each record must be a (partition key, data) pair")
        out.append(check_record(r[0], r[1]))
    if sum(len(d) for _, d in out) > MAX_PUT_RECORDS_BYTES:
        raise BadRequest(f"put_records carries more than {MAX_PUT_RECORDS_BYTES} bytes")
    return out


def check_limit(limit: object) -> int:
    # Kinesis GetRecords returns at most 10,000 records per call.
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
        raise BadRequest("limit must be an integer from 1 to 10000")
    return limit


def check_consumer(consumer: object) -> str:
    if not isinstance(consumer, str) or not 1 <= len(consumer) <= 256:
        raise BadRequest("consumer name must be a string of 1 to 256 characters")
    return consumer


@dataclass
class PutGate:
    """Bounds records in flight to storage: beyond ``max_in_flight`` a put is refused with
    ``LimitExceeded`` at once and counted, so a burst on the stream cannot queue without
    end (the chat drops stream traffic first)."""

    max_in_flight: int
    stats: StreamStats = field(default_factory=StreamStats)

    def acquire(self, n: int) -> None:
        if self.stats.in_flight + n > self.max_in_flight:
            self.stats.rejected += n
            raise LimitExceeded(
                f"stream buffer full ({self.stats.in_flight} records in flight); record dropped")
        self.stats.in_flight += n

    def release(self, n: int, stored: bool) -> None:
        self.stats.in_flight -= n
        if stored:
            self.stats.accepted += n


class BacklogBound:
    """Bounds each shard's un-consumed backlog: records stored (or being stored) and not
    yet consumed by the slowest attached consumer. A put that would pass ``max_per_shard``
    on one of its shards waits for room (the engine's ``max_delay``) and is then shed
    (``LimitExceeded``, counted in ``stats.shed``), so ingest gives way before the
    consumer falls further behind: the chat delays, then drops, stream traffic first. 0
    means no bound; a stream without an attached consumer is not bounded (nobody here
    reads it).

    Counted in this process: records put before it started (arrival before ``since``) are
    not in ``stored``, so consuming them is not counted either; on several nodes (Redis)
    each node bounds what it put itself.
    """

    def __init__(self, stats: StreamStats, max_per_shard: int = 0, since: float = 0.0) -> None:
        self.stats = stats
        self.max_per_shard = max_per_shard
        self.since = since
        self._stored: dict[tuple[str, int], int] = {}
        self._consumed: dict[tuple[str, str, int], int] = {}
        self._consumers: dict[str, set[str]] = {}

    def attach(self, stream: str, consumer: str) -> None:
        self._consumers.setdefault(stream, set()).add(consumer)

    def detach(self, stream: str, consumer: str) -> None:
        self._consumers.get(stream, set()).discard(consumer)

    def backlog(self, stream: str, shard: int) -> int:
        consumers = self._consumers.get(stream)
        if not consumers:
            return 0
        done = min(self._consumed.get((stream, c, shard), 0) for c in consumers)
        return max(0, self._stored.get((stream, shard), 0) - done)

    def room(self, stream: str, shard: int) -> int | None:
        """Records the shard takes now; None: no bound."""
        if self.max_per_shard <= 0 or not self._consumers.get(stream):
            return None
        return max(0, self.max_per_shard - self.backlog(stream, shard))

    def full(self, stream: str, shards: Sequence[int]) -> int | None:
        """The first shard a put of records to ``shards`` (one entry per record) would
        take past the bound, or None if it fits."""
        counts: dict[int, int] = {}
        for i in shards:
            counts[i] = counts.get(i, 0) + 1
        for i, n in counts.items():
            room = self.room(stream, i)
            if room is not None and n > room:
                return i
        return None

    def add(self, stream: str, shards: Sequence[int]) -> None:
        for i in shards:
            self._stored[(stream, i)] = self._stored.get((stream, i), 0) + 1

    def shed(self, stream: str, shards: Sequence[int], shard: int) -> LimitExceeded:
        """Count a put as shed; the error to raise."""
        self.stats.shed += len(shards)
        return LimitExceeded(
            f"stream {stream!r} shard {shard_id(shard)} has {self.backlog(stream, shard)}"
            f" records not yet consumed (bound {self.max_per_shard}); record shed")

    def admit(self, stream: str, shards: Sequence[int]) -> None:
        """Count a put now or shed it whole (no waiting)."""
        full = self.full(stream, shards)
        if full is not None:
            raise self.shed(stream, shards, full)
        self.add(stream, shards)

    def cancel(self, stream: str, shards: Sequence[int]) -> None:
        """An admitted put was not stored after all."""
        for i in shards:
            self._stored[(stream, i)] -= 1

    def consumed(self, stream: str, consumer: str, shard: int,
                 records: Sequence[Record]) -> None:
        n = sum(1 for r in records if r.arrival >= self.since)
        key = (stream, consumer, shard)
        self._consumed[key] = self._consumed.get(key, 0) + n


class StreamEngine(Protocol):
    """Storage for streams. Every method validates input and raises ``BadRequest``."""

    stats: StreamStats

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def create_stream(self, spec: StreamSpec) -> None:
        """Create the stream, or check that an existing one has the same shard count."""
        ...

    def describe(self, stream: str) -> StreamSpec: ...

    def shard_ids(self, stream: str) -> list[str]: ...

    async def put_record(self, stream: str, partition_key: str, data: bytes) -> PutResult:
        """Store one record; returns once it is durable (as the engine defines it).
        ``LimitExceeded`` if the engine's put buffer is full."""
        ...

    async def put_records(self, stream: str,
                          records: Sequence[tuple[str, bytes]]) -> list[PutResult]:
        """Store (partition key, data) pairs, all or none; results in input order."""
        ...

    async def read(self, stream: str, shard_id: str, after_sequence: str | None,
                   limit: int) -> list[Record]:
        """Up to ``limit`` unexpired records of the shard after ``after_sequence``
        (None: from the oldest, Kinesis' TRIM_HORIZON)."""
        ...

    async def latest_sequence(self, stream: str, shard_id: str) -> str | None: ...

    async def get_checkpoint(self, stream: str, consumer: str, shard_id: str) -> str | None: ...

    async def set_checkpoint(self, stream: str, consumer: str, shard_id: str,
                             sequence: str) -> None: ...

    async def trim_expired(self) -> int:
        """Delete records older than their stream's retention; returns how many."""
        ...

    async def wait(self, stream: str, shard_id: str, seen: int, timeout: float) -> int:
        """Wait until a record is put on the shard by this process after generation ``seen``
        (or ``timeout`` seconds pass); returns the current generation. Start with
        ``seen = generation(...)`` read before looking at the shard."""
        ...

    def generation(self, stream: str, shard_id: str) -> int: ...

    backlog_bound: BacklogBound
    limiter: IngestLimiter | None

    def tick(self, lag: float) -> None:
        """Once per period of the node's loop-lag probe (``IngestLimiter``)."""
        ...

    def attach_consumer(self, stream: str, consumer: str) -> None:
        """Bound the stream's shards by this consumer's progress (``BacklogBound``)."""
        ...

    def detach_consumer(self, stream: str, consumer: str) -> None: ...

    def consumed(self, stream: str, consumer: str, shard_id: str,
                 records: Sequence[Record]) -> None:
        """The consumer is done with ``records`` (checkpointed or discarded)."""
        ...

    def backlog(self, stream: str, shard_id: str) -> int:
        """Records of the shard not yet consumed, as ``BacklogBound`` counts them."""
        ...


async def consumer_lag(engine: StreamEngine, stream: str, consumer: str,
                       now: float) -> list[ShardLag]:
    """Per shard: the consumer's checkpoint and the age of its oldest unprocessed record."""
    out = []
    for sid in engine.shard_ids(stream):
        ckpt = await engine.get_checkpoint(stream, consumer, sid)
        nxt = await engine.read(stream, sid, ckpt, 1)
        age = max(0.0, (now - nxt[0].arrival) * 1000) if nxt else 0.0
        out.append(ShardLag(sid, ckpt, bool(nxt), age))
    return out
