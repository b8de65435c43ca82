"""The embedded stream engine: SQLite, durable, group-committed.

Puts go through ``hubbub.tables.sqlite_writer.SqliteWriter``: a put returns once its
record is committed to the WAL (synchronous=NORMAL), so an accepted record survives
SIGKILL, and concurrent puts share one commit. Each shard's last sequence number is kept
in ``shards`` and bumped in the same transaction, so numbers never go back, even after
every record was trimmed. Use a file of its own (not the tables' file): both would
otherwise contend for SQLite's single writer lock.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
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
from hubbub.streams.common import EngineCore
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


class SqliteStreamEngine(EngineCore):
    """Streams in one SQLite file at ``path``; ``max_in_flight`` bounds records waiting
    for a commit (beyond it puts raise ``LimitExceeded``); ``power_safe``: synchronous=FULL."""

    def __init__(self, path: Path | str, *, clock: Clock = time.time,
                 max_in_flight: int = 10_000, power_safe: bool = False,
                 max_batch: int = 1000) -> None:
        super().__init__(clock=clock, max_in_flight=max_in_flight)
        self.writer = SqliteWriter(path, schema=SCHEMA, power_safe=power_safe,
                                   max_batch=max_batch)

    async def open(self) -> None:
        await self.writer.start()

    async def close(self) -> None:
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
        now = self.clock()

        def job(conn: sqlite3.Connection) -> list[PutResult]:
            last: dict[int, int] = {}
            for i in {r[0] for r in rows}:  # one read and one update per shard, not per record
                (last[i],) = conn.execute("SELECT last_seq FROM shards WHERE stream = ?"
                                          " AND shard = ?", (stream, i)).fetchone()
            out, values = [], []
            for i, pk, data in rows:
                last[i] += 1
                values.append((stream, i, last[i], pk, data, now))
                out.append(PutResult(shard_id(i), format_sequence(last[i])))
            conn.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?)", values)
            conn.executemany("UPDATE shards SET last_seq = ? WHERE stream = ? AND shard = ?",
                             [(n, stream, i) for i, n in last.items()])
            return out

        self.gate.acquire(len(rows))
        stored = False
        try:
            results = await self.writer.write(job)
            stored = True
        finally:
            self.gate.release(len(rows), stored)
        self._notify(stream, {r[0] for r in rows})
        return results

    async def read(self, stream: str, shard_id: str, after_sequence: str | None,
                   limit: int) -> list[Record]:
        spec, i = self._shard(stream, shard_id)
        limit = check_limit(limit)
        after = parse_sequence(after_sequence) if after_sequence is not None else 0
        horizon = self.clock() - spec.retention_seconds
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
