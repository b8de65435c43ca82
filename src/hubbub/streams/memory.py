"""The in-memory stream engine: reference semantics for tests; nothing survives close."""

from __future__ import annotations

import bisect
import time
from collections.abc import Sequence

from hubbub.streams.base import (
    Clock,
    PutResult,
    Record,
    StreamSpec,
    check_consumer,
    check_limit,
    check_records,
    check_spec,
    format_sequence,
    parse_sequence,
    shard_for_key,
    shard_id,
)
from hubbub.streams.common import EngineCore


class MemoryStreamEngine(EngineCore):
    """Streams in lists; ``clock`` returns epoch seconds (arrival times, retention)."""

    def __init__(self, *, clock: Clock = time.time, max_in_flight: int = 10_000,
                 max_backlog: int = 0, max_delay: float = 0.0) -> None:
        super().__init__(clock=clock, max_in_flight=max_in_flight, max_backlog=max_backlog,
                         max_delay=max_delay)
        self._shards: dict[tuple[str, int], list[Record]] = {}
        self._seqs: dict[tuple[str, int], list[int]] = {}
        self._last: dict[tuple[str, int], int] = {}
        self._checkpoints: dict[tuple[str, str, int], str] = {}

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        self._drop_waiters()

    async def create_stream(self, spec: StreamSpec) -> None:
        check_spec(spec)
        self._register(spec, self._specs.get(spec.name))

    async def put_records(self, stream: str,
                          records: Sequence[tuple[str, bytes]]) -> list[PutResult]:
        spec = self.describe(stream)
        checked = check_records(records)
        shards = [shard_for_key(pk, spec.shard_count) for pk, _ in checked]
        await self._admit(stream, shards)
        now, out, touched = self.clock(), [], set()
        for (pk, data), i in zip(checked, shards, strict=True):
            n = self._last.get((stream, i), 0) + 1
            self._last[(stream, i)] = n
            seq = format_sequence(n)
            self._shards.setdefault((stream, i), []).append(
                Record(shard_id(i), seq, pk, data, now))
            self._seqs.setdefault((stream, i), []).append(n)
            out.append(PutResult(shard_id(i), seq))
            touched.add(i)
        self._settle(stream, shards, stored=True)
        self._notify(stream, touched)
        return out

    async def read(self, stream: str, shard_id: str, after_sequence: str | None,
                   limit: int) -> list[Record]:
        spec, i = self._shard(stream, shard_id)
        limit = check_limit(limit)
        after = parse_sequence(after_sequence) if after_sequence is not None else 0
        records = self._shards.get((stream, i), [])
        start = bisect.bisect_right(self._seqs.get((stream, i), []), after)
        horizon = self.clock() - spec.retention_seconds
        while start < len(records) and records[start].arrival < horizon:
            start += 1  # expired, not yet trimmed: invisible
        return records[start:start + limit]

    async def latest_sequence(self, stream: str, shard_id: str) -> str | None:
        _, i = self._shard(stream, shard_id)
        n = self._last.get((stream, i))
        return format_sequence(n) if n is not None else None

    async def get_checkpoint(self, stream: str, consumer: str, shard_id: str) -> str | None:
        _, i = self._shard(stream, shard_id)
        return self._checkpoints.get((stream, check_consumer(consumer), i))

    async def set_checkpoint(self, stream: str, consumer: str, shard_id: str,
                             sequence: str) -> None:
        _, i = self._shard(stream, shard_id)
        parse_sequence(sequence)
        self._checkpoints[(stream, check_consumer(consumer), i)] = sequence

    async def trim_expired(self) -> int:
        now, n = self.clock(), 0
        for (stream, i), records in self._shards.items():
            horizon = now - self._specs[stream].retention_seconds
            keep = next((k for k, r in enumerate(records) if r.arrival >= horizon), len(records))
            del records[:keep]
            del self._seqs[(stream, i)][:keep]
            n += keep
        return n
