"""What every stream engine shares: known streams, validation, the put gate, the backlog
bound and wake-ups.

Wake-ups are in-process only: a put bumps the shard's generation and sets its
``asyncio.Event``, so a consumer of the same process sees the record without a polling
delay. Records put by other processes (Redis engine, several nodes) are found by the
consumer's periodic poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Sequence

from hubbub.errors import BadRequest, LimitExceeded
from hubbub.streams.base import (
    BacklogBound,
    Clock,
    PutGate,
    PutResult,
    Record,
    StreamSpec,
    StreamStats,
    check_consumer,
    check_spec,
    shard_id,
    shard_index,
)
from hubbub.streams.pressure import IngestLimiter


def _expire(fut: asyncio.Future[bool]) -> None:
    if not fut.done():
        fut.set_result(False)


class _Signal:
    __slots__ = ("generation", "event")

    def __init__(self) -> None:
        self.generation = 0
        self.event = asyncio.Event()


class EngineCore:
    def __init__(self, *, clock: Clock = time.time, max_in_flight: int = 10_000,
                 max_backlog: int = 0, max_delay: float = 0.0) -> None:
        self.clock = clock
        self.gate = PutGate(max_in_flight)
        self.stats: StreamStats = self.gate.stats
        self.backlog_bound = BacklogBound(self.stats, max_backlog, since=clock())
        self.max_delay = max_delay  # seconds a put may wait for backlog room
        self._specs: dict[str, StreamSpec] = {}
        self._signals: dict[tuple[str, int], _Signal] = {}
        self._waiters: dict[tuple[str, int],
                            deque[tuple[asyncio.Future[bool], Sequence[int]]]] = {}
        #: Set by the node (``stream_wiring``): puts then wait for its tokens, which
        #: ``tick`` hands out as the event loop's lag allows (``hubbub.streams.pressure``).
        self.limiter: IngestLimiter | None = None
        self._token_waiters: deque[tuple[asyncio.Future[bool], int]] = deque()

    async def _admit(self, stream: str, shards: Sequence[int]) -> None:
        """Pass the put gate (``LimitExceeded`` at once beyond it: ``stats.rejected``),
        then find backlog room: at once, or by waiting up to ``max_delay`` for the
        consumer to make some, else shed (``LimitExceeded``: ``stats.shed``).

        Waiting is the first resort: a waiting put holds its publisher's PUBACK, so a
        QoS 1 publisher that keeps a window of unacknowledged publishes (MQTT's Receive
        Maximum) slows down to what the consumer takes, and the waiting costs the event
        loop nothing, where refusing at once would acknowledge at once and invite the
        next record. Waiting puts count in the put gate, so they are bounded too. Puts
        wait in line (FIFO per shard), so a shard's records keep their order."""
        self.gate.acquire(len(shards))
        try:
            limiter = self.limiter
            deadline: float | None = None
            waiters = self._token_waiters
            while waiters and waiters[0][0].done():  # timed out: no longer in line
                waiters.popleft()
            if limiter is not None and (waiters or not limiter.take(len(shards))):
                deadline = await self._wait_for_token(stream, shards)
            line = self._line(stream, shards)
            if line is not None:
                await self._wait_for_room(stream, shards, line, deadline)
            else:
                self.backlog_bound.add(stream, shards)
        except BaseException:
            self.gate.release(len(shards), stored=False)
            raise

    def _line(self, stream: str, shards: Sequence[int]) -> int | None:
        """The shard whose line a put must wait in: a full one, or one where others wait
        (they go first); None: it may go now."""
        for i in dict.fromkeys(shards):
            if self._waiters.get((stream, i)):
                self._wake(stream, i)  # room may have come without a consumption
                if self._waiters.get((stream, i)):
                    return i
        return self.backlog_bound.full(stream, shards)

    async def _wait_for_token(self, stream: str, shards: Sequence[int]) -> float:
        """Wait in line for the limiter's tokens; returns the put's deadline."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_delay
        if self.max_delay > 0:
            self.stats.delayed += len(shards)
            fut: asyncio.Future[bool] = loop.create_future()
            self._token_waiters.append((fut, len(shards)))
            timer = loop.call_later(self.max_delay, _expire, fut)
            try:
                if await fut:
                    return deadline
            finally:
                timer.cancel()
        self.stats.shed += len(shards)
        raise LimitExceeded(f"stream {stream!r}: ingest is slowed while the event loop is"
                            " busy (chat first); record shed")

    def _drop_waiters(self) -> None:
        """Closing: every waiting put is shed now instead of at its deadline."""
        for fut, _ in self._token_waiters:
            _expire(fut)
        self._token_waiters.clear()
        for queue in self._waiters.values():
            for fut, _ in queue:
                _expire(fut)
            queue.clear()

    def tick(self, lag: float) -> None:
        """The node's loop-lag probe, once per period: adjust the limiter, let waiting puts
        in, in order, while it has tokens."""
        limiter = self.limiter
        if limiter is None:
            return
        limiter.tick(lag)
        waiters = self._token_waiters
        while waiters and limiter.tokens >= 1:
            fut, n = waiters.popleft()
            if not fut.done():
                limiter.tokens -= n
                fut.set_result(True)

    async def _wait_for_room(self, stream: str, shards: Sequence[int], shard: int,
                             deadline: float | None) -> None:
        # Returns once ``_wake`` has counted the put in the bound on its behalf.
        bound = self.backlog_bound
        loop = asyncio.get_running_loop()
        if deadline is None:
            deadline = loop.time() + self.max_delay
            if self.max_delay > 0:
                self.stats.delayed += len(shards)
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise bound.shed(stream, shards, shard)
        fut: asyncio.Future[bool] = loop.create_future()
        queue = self._waiters.setdefault((stream, shard), deque())
        if len(queue) > 2 * self.gate.max_in_flight:  # timed-out ones pile up if nobody
            queue = self._waiters[(stream, shard)] = deque(  # consumes
                w for w in queue if not w[0].done())
        queue.append((fut, shards))
        timer = loop.call_later(remaining, _expire, fut)
        try:
            admitted = await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled() and fut.result():
                bound.cancel(stream, shards)  # counted for us, but we are not coming
                self._wake(stream, shard)
            raise
        finally:
            timer.cancel()
        if not admitted:
            raise bound.shed(stream, shards, shard)

    def _wake(self, stream: str, i: int) -> None:
        # In line: count the first waiting puts in the bound while they fit, and let them
        # go. The first that does not fit stops the line (order within a shard).
        queue = self._waiters.get((stream, i))
        bound = self.backlog_bound
        while queue:
            fut, shards = queue[0]
            if fut.done():
                queue.popleft()
                continue
            if bound.full(stream, shards) is not None:
                return
            queue.popleft()
            bound.add(stream, shards)
            fut.set_result(True)

    def _settle(self, stream: str, shards: Sequence[int], stored: bool) -> None:
        self.gate.release(len(shards), stored)
        if not stored:
            self.backlog_bound.cancel(stream, shards)
            for i in set(shards):
                self._wake(stream, i)

    def attach_consumer(self, stream: str, consumer: str) -> None:
        self.describe(stream)
        self.backlog_bound.attach(stream, check_consumer(consumer))

    def detach_consumer(self, stream: str, consumer: str) -> None:
        self.backlog_bound.detach(stream, consumer)
        for s, i in list(self._waiters):
            if s == stream:
                self._wake(s, i)

    def consumed(self, stream: str, consumer: str, shard_id: str,
                 records: Sequence[Record]) -> None:
        _, i = self._shard(stream, shard_id)
        self.backlog_bound.consumed(stream, consumer, i, records)
        self._wake(stream, i)

    def backlog(self, stream: str, shard_id: str) -> int:
        _, i = self._shard(stream, shard_id)
        return self.backlog_bound.backlog(stream, i)

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


class TailCache:
    """The newest records of one shard, in sequence order, as this process stored them.

    Sequence numbers of an engine that numbers densely (SQLite: the shard's last number
    plus one, in one writer) are consecutive here, so a read after sequence ``n`` is a
    slice. A consumer near the tail then reads from memory: no reader-thread hop, no
    query, which is what lets it keep up while the ingest keeps the loop busy. Holds at
    most ``2 * size`` records (trimmed to ``size``), as plain tuples: tuples of strings,
    bytes and floats drop out of the garbage collector's sight, ``Record`` objects would
    not, and every full collection pass (which stops the loop) would walk them.
    """

    __slots__ = ("_rows", "_first", "_size", "shard_id")

    def __init__(self, shard_id: str, size: int) -> None:
        self.shard_id = shard_id
        self._rows: list[tuple[str, str, bytes, float]] = []  # (sequence, key, data, arrival)
        self._first = 0  # sequence number (int) of _rows[0]
        self._size = size

    def append(self, first: int, rows: Sequence[tuple[str, str, bytes, float]]) -> None:
        """Add rows numbered ``first``, ``first + 1``, ...; a gap starts over."""
        if not rows:
            return
        if not self._rows or first != self._first + len(self._rows):
            self._rows, self._first = [], first
        self._rows.extend(rows)
        extra = len(self._rows) - self._size
        if extra > self._size:
            del self._rows[:extra]
            self._first += extra

    def read(self, after: int, limit: int, horizon: float) -> list[Record] | None:
        """Up to ``limit`` records after sequence ``after`` that arrived at or after
        ``horizon``; None when the cache does not reach back that far."""
        if not self._rows or after < self._first - 1:
            return None
        start = after - self._first + 1
        rows = self._rows
        while start < len(rows) and rows[start][3] < horizon:
            start += 1  # expired, not yet trimmed: invisible (as in the query)
        sid = self.shard_id
        return [Record(sid, seq, pk, data, arrival)
                for seq, pk, data, arrival in rows[start:start + limit]]
