"""The embedded stream engine: SQLite, durable, group-committed.

Puts go through ``hubbub.tables.sqlite_writer.SqliteWriter``: a put returns once its
record is committed to the WAL (synchronous=NORMAL), so an accepted record survives
SIGKILL. Concurrent puts are coalesced before they reach the writer: while one append is
being committed, the puts that arrive queue here and then go as one job (one read and
one update of each shard's counter, one ``executemany`` for all their rows) in one
transaction. Per record that is one row insert instead of a job with its own savepoint,
counter read and update, which under a burst was most of the writer thread's work (and
its GIL time, taken from the event loop). Each shard's last sequence number is kept in
``shards`` and bumped in the same transaction, so numbers never go back, even after
every record was trimmed, and they are dense (one more per record).

The records this process stored are also kept in a ``TailCache`` per shard, so a
consumer near the tail reads them from memory. Use a file of its own (not the tables'
file): both would otherwise contend for SQLite's single writer lock. One process owns
the file (the cache assumes nobody else appends).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

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
from hubbub.streams.common import EngineCore, TailCache
from hubbub.tables.sqlite_writer import SqliteWriter

SCHEMA = """
CREATE TABLE IF NOT EXISTS streams (
    name TEXT PRIMARY KEY, shard_count INTEGER NOT NULL, retention REAL NOT NULL);
CREATE TABLE IF NOT EXISTS shards (
    stream TEXT NOT NULL, shard INTEGER NOT NULL, last_seq INTEGER NOT NULL,
    PRIMARY KEY (stream, shard)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
    stream TEXT NOT NULL, shard INTEGER NOT NULL, seq INTEGER NOT NULL,
    partition_key TEXT NOT NULL, data BLOB NOT NULL, arrival REAL NOT NULL,
    PRIMARY KEY (stream, shard, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
    stream TEXT NOT NULL, consumer TEXT NOT NULL, shard INTEGER NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (stream, consumer, shard)) WITHOUT ROWID;
"""


@dataclass
class _Put:
    stream: str
    rows: list[tuple[int, str, bytes]]  # (shard, partition key, data)
    arrival: float
    future: asyncio.Future[list[PutResult]]


def _append(puts: list[_Put], conn: sqlite3.Connection) -> list[list[int]]:
    """One job for many puts: each put's sequence numbers (ints), in put order."""
    last: dict[tuple[str, int], int] = {}
    for key in {(p.stream, r[0]) for p in puts for r in p.rows}:
        (last[key],) = conn.execute("SELECT last_seq FROM shards WHERE stream = ?"
                                    " AND shard = ?", key).fetchone()
    out, values = [], []
    for p in puts:
        seqs = []
        for i, pk, data in p.rows:
            n = last[(p.stream, i)] = last[(p.stream, i)] + 1
            values.append((p.stream, i, n, pk, data, p.arrival))
            seqs.append(n)
        out.append(seqs)
    conn.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?)", values)
    conn.executemany("UPDATE shards SET last_seq = ? WHERE stream = ? AND shard = ?",
                     [(n, stream, i) for (stream, i), n in last.items()])
    return out


class SqliteStreamEngine(EngineCore):
    """Streams in one SQLite file at ``path``; ``max_in_flight`` bounds records waiting
    for a commit (beyond it puts raise ``LimitExceeded``); ``max_backlog`` bounds each
    shard's un-consumed records (``BacklogBound``; 0: no bound) and ``max_delay`` is how
    long a put waits for room there before it is shed (seconds); ``power_safe``:
    synchronous=FULL; ``tail_cache`` records per shard kept in memory for readers."""

    def __init__(self, path: Path | str, *, clock: Clock = time.time,
                 max_in_flight: int = 10_000, max_backlog: int = 0, max_delay: float = 0.0,
                 power_safe: bool = False, max_batch: int = 1000, tail_cache: int = 10_000) -> None:
        super().__init__(clock=clock, max_in_flight=max_in_flight, max_backlog=max_backlog,
                         max_delay=max_delay)
        self.writer = SqliteWriter(path, schema=SCHEMA, power_safe=power_safe,
                                   max_batch=max_batch)
        self.appends = 0  # append jobs committed (each holds one or more puts)
        self._queue: list[_Put] = []
        self._flusher: asyncio.Task[None] | None = None
        self._tails: dict[tuple[str, int], TailCache] = {}
        self._tail_size = tail_cache

    async def open(self) -> None:
        await self.writer.start()

    async def close(self) -> None:
        self._drop_waiters()
        if self._flusher is not None:  # queued puts have callers waiting on them
            with contextlib.suppress(Exception):
                await self._flusher
            self._flusher = None
        await self.writer.close()

    async def create_stream(self, spec: StreamSpec) -> None:
        check_spec(spec)

        def job(conn: sqlite3.Connection) -> StreamSpec | None:
            row = conn.execute("SELECT shard_count, retention FROM streams WHERE name = ?",
                               (spec.name,)).fetchone()
            if row is not None and row[0] != spec.shard_count:
                return StreamSpec(spec.name, row[0], row[1])  # refused below
            conn.execute("INSERT OR REPLACE INTO streams VALUES (?, ?, ?)",
                         (spec.name, spec.shard_count, spec.retention_seconds))
            conn.executemany("INSERT OR IGNORE INTO shards VALUES (?, ?, 0)",
                             [(spec.name, i) for i in range(spec.shard_count)])
            return None

        self._register(spec, await self.writer.write(job))

    async def put_records(self, stream: str,
                          records: Sequence[tuple[str, bytes]]) -> list[PutResult]:
        spec = self.describe(stream)
        checked = check_records(records)
        rows = [(shard_for_key(pk, spec.shard_count), pk, data) for pk, data in checked]
        shards = [r[0] for r in rows]
        await self._admit(stream, shards)
        stored = False
        try:
            fut: asyncio.Future[list[PutResult]] = asyncio.get_running_loop().create_future()
            self._queue.append(_Put(stream, rows, self.clock(), fut))
            if self._flusher is None or self._flusher.done():
                self._flusher = asyncio.create_task(self._flush(), name="stream-append")
            results = await fut
            stored = True
        finally:
            self._settle(stream, shards, stored)
        return results

    async def _flush(self) -> None:
        # One append job in flight: the puts that arrive while it commits wait here and
        # go together in the next one (group commit, coalesced into one job).
        while self._queue:
            puts, self._queue = self._queue, []
            try:
                seqs = await self.writer.write(partial(_append, puts))
            except Exception as e:  # the transaction failed: nothing of it is stored
                for p in puts:
                    if not p.future.done():
                        p.future.set_exception(e)
                continue
            self.appends += 1
            touched: dict[str, set[int]] = {}
            for p, ns in zip(puts, seqs, strict=True):
                self._remember(p, ns)
                touched.setdefault(p.stream, set()).update(r[0] for r in p.rows)
                if not p.future.done():
                    p.future.set_result([PutResult(shard_id(r[0]), format_sequence(n))
                                         for r, n in zip(p.rows, ns, strict=True)])
            for stream, shards in touched.items():
                self._notify(stream, shards)

    def _remember(self, put: _Put, seqs: list[int]) -> None:
        if self._tail_size <= 0:
            return
        for (i, pk, data), n in zip(put.rows, seqs, strict=True):
            tail = self._tails.get((put.stream, i))
            if tail is None:
                tail = self._tails[(put.stream, i)] = TailCache(shard_id(i), self._tail_size)
            tail.append(n, [(format_sequence(n), pk, data, put.arrival)])

    async def read(self, stream: str, shard_id: str, after_sequence: str | None,
                   limit: int) -> list[Record]:
        spec, i = self._shard(stream, shard_id)
        limit = check_limit(limit)
        after = parse_sequence(after_sequence) if after_sequence is not None else 0
        horizon = self.clock() - spec.retention_seconds
        tail = self._tails.get((stream, i))
        if tail is not None and after_sequence is not None:
            cached = tail.read(after, limit, horizon)
            if cached is not None:
                return cached
        sid = shard_id
        rows = await self.writer.read(lambda conn: conn.execute(
            "SELECT seq, partition_key, data, arrival FROM records WHERE stream = ?"
            " AND shard = ? AND seq > ? AND arrival >= ? ORDER BY seq LIMIT ?",
            (stream, i, after, horizon, limit)).fetchall())
        return [Record(sid, format_sequence(n), pk, data, arrival)
                for n, pk, data, arrival in rows]

    async def latest_sequence(self, stream: str, shard_id: str) -> str | None:
        _, i = self._shard(stream, shard_id)
        row = await self.writer.read(lambda conn: conn.execute(
            "SELECT last_seq FROM shards WHERE stream = ? AND shard = ?", (stream, i)).fetchone())
        return format_sequence(row[0]) if row is not None and row[0] > 0 else None

    async def get_checkpoint(self, stream: str, consumer: str, shard_id: str) -> str | None:
        _, i = self._shard(stream, shard_id)
        consumer = check_consumer(consumer)
        row = await self.writer.read(lambda conn: conn.execute(
            "SELECT seq FROM checkpoints WHERE stream = ? AND consumer = ? AND shard = ?",
            (stream, consumer, i)).fetchone())
        return format_sequence(row[0]) if row is not None else None

    async def set_checkpoint(self, stream: str, consumer: str, shard_id: str,
                             sequence: str) -> None:
        _, i = self._shard(stream, shard_id)
        consumer = check_consumer(consumer)
        n = parse_sequence(sequence)
        await self.writer.write(lambda conn: conn.execute(
            "INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?, ?)", (stream, consumer, i, n)))

    async def trim_expired(self) -> int:
        now = self.clock()
        specs = list(self._specs.values())

        def job(conn: sqlite3.Connection) -> int:
            return sum(conn.execute("DELETE FROM records WHERE stream = ? AND arrival < ?",
                                    (s.name, now - s.retention_seconds)).rowcount for s in specs)

        return await self.writer.write(job)
