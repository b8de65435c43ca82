"""The Redis Streams engine (several machines): one Redis stream key per shard.

XADD assigns ids ("<ms>-<n>"), which are increasing within a key, so they are the shard's
order; a sequence number is the id's two parts as 20 + 20 digits, so numeric order and id
order agree. Arrival times come from hubbub's clock (stored in the entry), not from the
id, so that retention follows the injected clock; trimming finds the first unexpired entry
and XTRIMs by MINID. Stream specs and checkpoints live in hashes, shared by every node.

Durability is Redis's: with ``appendonly yes`` and ``appendfsync always`` an acknowledged
XADD survives a Redis crash; the defaults (everysec) may lose up to a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from typing import Any

from hubbub.errors import BadRequest, UsageError
from hubbub.streams.base import (
    SEQUENCE_DIGITS,
    Clock,
    PutResult,
    Record,
    StreamSpec,
    check_consumer,
    check_limit,
    check_records,
    check_spec,
    parse_sequence,
    shard_for_key,
    shard_id,
)
from hubbub.streams.common import EngineCore

try:
    import redis.asyncio as aioredis
except ImportError:  # pragma: no cover - the "redis" extra is not installed
    aioredis = None  # type: ignore[assignment]

_HALF = SEQUENCE_DIGITS // 2
_Fut = asyncio.Future[list[bytes]]


def _seq(entry_id: bytes | str) -> str:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, n = text.partition("-")
    return f"{int(ms):0{_HALF}d}{int(n):0{_HALF}d}"


def _entry_id(sequence: str) -> str:
    n = parse_sequence(sequence)
    return f"{n // 10**_HALF}-{n % 10**_HALF}"


class RedisStreamEngine(EngineCore):
    """Streams in Redis at ``url``; keys start with ``prefix``."""

    def __init__(self, url: str, *, clock: Clock = time.time, max_in_flight: int = 10_000,
                 max_backlog: int = 0, max_delay: float = 0.0,
                 prefix: str = "hubbub:") -> None:
        if aioredis is None:
            raise UsageError("the redis stream engine needs redis: pip install hubbub[redis]")
        super().__init__(clock=clock, max_in_flight=max_in_flight, max_backlog=max_backlog,
                         max_delay=max_delay)
        self._url = url
        self._prefix = prefix
        self._redis: Any = None
        self._queue: asyncio.Queue[tuple[list[tuple[str, dict[str, Any]]], _Fut]] = \
            asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def _key(self, stream: str, i: int) -> str:
        return f"{self._prefix}stream:{stream}:{i}"

    async def open(self) -> None:
        assert aioredis is not None
        # A blocking pool: a burst of reads waits for a connection instead of failing.
        pool = aioredis.BlockingConnectionPool.from_url(self._url, max_connections=16)
        self._redis = aioredis.Redis(connection_pool=pool)
        await self._redis.ping()
        self._task = asyncio.create_task(self._run(), name="redis-stream-writer")

    async def close(self) -> None:
        self._drop_waiters()
        if self._task is not None:
            while self.stats.in_flight and not self._task.done():
                await asyncio.sleep(0)  # queued puts have callers waiting on them
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def create_stream(self, spec: StreamSpec) -> None:
        check_spec(spec)
        meta = f"{self._prefix}streams"
        doc = json.dumps({"shard_count": spec.shard_count,
                          "retention": spec.retention_seconds})
        await self._redis.hsetnx(meta, spec.name, doc)
        stored = json.loads(await self._redis.hget(meta, spec.name))
        existing = StreamSpec(spec.name, stored["shard_count"], stored["retention"])
        self._register(spec, existing)

    async def put_records(self, stream: str,
                          records: Sequence[tuple[str, bytes]]) -> list[PutResult]:
        spec = self.describe(stream)
        checked = check_records(records)
        now = repr(self.clock())
        shards = [shard_for_key(pk, spec.shard_count) for pk, _ in checked]
        await self._admit(stream, shards)
        stored = False
        try:
            fut: _Fut = asyncio.get_running_loop().create_future()
            self._queue.put_nowait(([(self._key(stream, i), {"k": pk, "d": data, "t": now})
                                     for i, (pk, data) in zip(shards, checked, strict=True)],
                                    fut))
            ids = await fut
            stored = True
        finally:
            self._settle(stream, shards, stored)
        self._notify(stream, set(shards))
        return [PutResult(shard_id(i), _seq(e)) for i, e in zip(shards, ids, strict=True)]

    async def _run(self) -> None:
        # Group commit, as the SQLite engine does: the XADDs of every put waiting now go
        # out in one MULTI/EXEC round trip (all of a call's records or none of them).
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < 1000:
                batch.append(self._queue.get_nowait())
            try:
                async with self._redis.pipeline(transaction=True) as pipe:
                    for adds, _ in batch:
                        for key, fields in adds:
                            pipe.xadd(key, fields)
                    ids = await pipe.execute()
            except Exception as e:  # handed to every caller of the batch
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(e)
                continue
            k = 0
            for adds, fut in batch:
                if not fut.done():
                    fut.set_result(ids[k:k + len(adds)])
                k += len(adds)

    async def read(self, stream: str, shard_id: str, after_sequence: str | None,
                   limit: int) -> list[Record]:
        spec, i = self._shard(stream, shard_id)
        limit = check_limit(limit)
        start = "(" + _entry_id(after_sequence) if after_sequence is not None else "-"
        horizon = self.clock() - spec.retention_seconds
        out: list[Record] = []
        while len(out) < limit:
            entries = await self._redis.xrange(self._key(stream, i), start, "+",
                                               count=limit - len(out))
            if not entries:
                break
            for eid, fields in entries:
                arrival = float(fields[b"t"])
                if arrival >= horizon:  # older ones are expired, awaiting trim
                    out.append(Record(shard_id, _seq(eid), fields[b"k"].decode(),
                                      bytes(fields[b"d"]), arrival))
            start = "(" + (entries[-1][0].decode())
        return out

    async def latest_sequence(self, stream: str, shard_id: str) -> str | None:
        _, i = self._shard(stream, shard_id)
        entries = await self._redis.xrevrange(self._key(stream, i), "+", "-", count=1)
        return _seq(entries[0][0]) if entries else None

    def _ckpt_key(self, stream: str, consumer: str) -> str:
        return f"{self._prefix}checkpoint:{stream}:{check_consumer(consumer)}"

    async def get_checkpoint(self, stream: str, consumer: str, shard_id: str) -> str | None:
        self._shard(stream, shard_id)
        v = await self._redis.hget(self._ckpt_key(stream, consumer), shard_id)
        return v.decode() if v is not None else None

    async def set_checkpoint(self, stream: str, consumer: str, shard_id: str,
                             sequence: str) -> None:
        self._shard(stream, shard_id)
        if not isinstance(sequence, str):
            raise BadRequest(f"not a sequence number: {sequence!r}")
        _entry_id(sequence)
        await self._redis.hset(self._ckpt_key(stream, consumer), shard_id, sequence)

    async def trim_expired(self) -> int:
        now, total = self.clock(), 0
        for spec in list(self._specs.values()):
            horizon = now - spec.retention_seconds
            for i in range(spec.shard_count):
                key, start, minid = self._key(spec.name, i), "-", None
                while minid is None:
                    entries = await self._redis.xrange(key, start, "+", count=500)
                    if not entries:
                        break
                    for eid, fields in entries:
                        if float(fields[b"t"]) >= horizon:
                            minid = eid.decode()
                            break
                    else:
                        ms, _, n = entries[-1][0].decode().partition("-")
                        start = f"({ms}-{n}"
                        last = f"{ms}-{int(n) + 1}"
                if minid is None and start != "-":
                    minid = last  # everything is expired
                if minid is not None:
                    total += int(await self._redis.xtrim(key, minid=minid, approximate=False))
        return total
