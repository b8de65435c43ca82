"""What every stream engine shares: known streams, validation, the put gate and wake-ups.

Wake-ups are in-process only: a put bumps the shard's generation and sets its
``asyncio.Event``, so a consumer of the same process sees the record without a polling
delay. Records put by other processes (Redis engine, several nodes) are found by the
consumer's periodic poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

from hubbub.errors import BadRequest
from hubbub.streams.base import (
    Clock,
    PutGate,
    PutResult,
    StreamSpec,
    StreamStats,
    check_spec,
    shard_id,
    shard_index,
)


class _Signal:
    __slots__ = ("generation", "event")

    def __init__(self) -> None:
        self.generation = 0
        self.event = asyncio.Event()


class EngineCore:
    def __init__(self, *, clock: Clock = time.time, max_in_flight: int = 10_000) -> None:
        self.clock = clock
        self.gate = PutGate(max_in_flight)
        self.stats: StreamStats = self.gate.stats
        self._specs: dict[str, StreamSpec] = {}
        self._signals: dict[tuple[str, int], _Signal] = {}

    async def put_records(self, stream: str,
                          records: Sequence[tuple[str, bytes]]) -> list[PutResult]:
        raise NotImplementedError  # each engine stores its own way

    async def put_record(self, stream: str, partition_key: str, data: bytes) -> PutResult:
        return (await self.put_records(stream, [(partition_key, data)]))[0]

    def _register(self, spec: StreamSpec, existing: StreamSpec | None) -> StreamSpec:
        check_spec(spec)
        if existing is not None and existing.shard_count != spec.shard_count:
            raise BadRequest(f"stream {spec.name!r} exists with {existing.shard_count} shards,"
                             f" not {spec.shard_count} (resharding is not supported)")
        self._specs[spec.name] = spec
        return spec

    def describe(self, stream: str) -> StreamSpec:
        try:
            return self._specs[stream]
        except (KeyError, TypeError):
            raise BadRequest(f"no stream named {stream!r}") from None

    def shard_ids(self, stream: str) -> list[str]:
        return [shard_id(i) for i in range(self.describe(stream).shard_count)]

    def _shard(self, stream: str, sid: str) -> tuple[StreamSpec, int]:
        spec = self.describe(stream)
        return spec, shard_index(sid, spec.shard_count)

    def _signal(self, stream: str, sid: str) -> _Signal:
        _, i = self._shard(stream, sid)
        sig = self._signals.get((stream, i))
        if sig is None:
            sig = self._signals[(stream, i)] = _Signal()
        return sig

    def _notify(self, stream: str, shards: set[int]) -> None:
        for i in shards:
            sig = self._signals.get((stream, i))
            if sig is not None:
                sig.generation += 1
                sig.event.set()
                sig.event = asyncio.Event()  # waiters hold the old, set one

    def generation(self, stream: str, shard_id: str) -> int:
        return self._signal(stream, shard_id).generation

    async def wait(self, stream: str, shard_id: str, seen: int, timeout: float) -> int:
        sig = self._signal(stream, shard_id)
        if sig.generation == seen and timeout > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sig.event.wait(), timeout)
        return sig.generation
