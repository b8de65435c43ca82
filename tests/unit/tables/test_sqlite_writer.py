"""Group commit: concurrent writes share transactions; a failing job rolls back alone."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from hubbub.errors import LimitExceeded, UsageError
from hubbub.tables import TableSpec, create_table_engine
from hubbub.tables.base import Table, TableEngine
from hubbub.tables.sqlite import SqliteTableEngine
from hubbub.tables.sqlite_writer import SqliteWriter

SCHEMA = "CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v TEXT);"


async def test_concurrent_writes_are_group_committed(tmp_path: Path) -> None:
    w = SqliteWriter(tmp_path / "w.db", schema=SCHEMA)
    await w.start()
    try:
        await asyncio.gather(*(w.write(lambda c, i=i: c.execute(
            "INSERT INTO t VALUES (?, 'x')", (i,))) for i in range(500)))
        assert w.jobs == 500
        assert w.commits < 100  # far fewer commits than writes
        n = await w.read(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0])
        assert n == 500
        mode = await w.read(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0])
        assert mode == "wal"
    finally:
        await w.close()


async def test_a_failing_job_rolls_back_alone(tmp_path: Path) -> None:
    w = SqliteWriter(tmp_path / "w.db", schema=SCHEMA)
    await w.start()
    try:
        def bad(c: sqlite3.Connection) -> None:
            c.execute("INSERT INTO t VALUES (1000, 'half')")
            raise ValueError("refused")

        results = await asyncio.gather(
            *(w.write(lambda c, i=i: c.execute("INSERT INTO t VALUES (?, 'x')", (i,)))
              for i in range(10)),
            w.write(bad), return_exceptions=True)
        assert isinstance(results[-1], ValueError)
        rows = await w.read(lambda c: c.execute("SELECT k FROM t ORDER BY k").fetchall())
        assert [r[0] for r in rows] == list(range(10))  # 1000 was rolled back
    finally:
        await w.close()


async def test_one_statement_jobs_skip_the_savepoint_and_fail_alone(tmp_path: Path) -> None:
    """A one-statement job that breaks a constraint is undone by SQLite itself (statement
    journal): its caller gets the error, the rest of the batch commits."""
    w = SqliteWriter(tmp_path / "w.db", schema=SCHEMA)
    await w.start()
    try:
        await w.write(lambda c: c.execute("INSERT INTO t VALUES (5, 'first')"))
        trace: list[str] = []
        await w.write(lambda c: c.set_trace_callback(trace.append))
        results = await asyncio.gather(
            *(w.write(lambda c, i=i: c.execute("INSERT INTO t VALUES (?, 'x')", (i,)),
                      one_statement=True) for i in range(10)),
            return_exceptions=True)
        assert isinstance(results[5], sqlite3.IntegrityError)  # 5 exists already
        assert [r for i, r in enumerate(results) if i != 5] == [
            r for i, r in enumerate(results) if i != 5 and not isinstance(r, Exception)]
        assert not any("SAVEPOINT" in t for t in trace)
        rows = await w.read(lambda c: c.execute("SELECT k, v FROM t ORDER BY k").fetchall())
        assert rows == [(i, "first" if i == 5 else "x") for i in range(10)]
    finally:
        await w.close()


async def test_an_io_error_in_a_one_statement_job_fails_its_whole_batch(
        tmp_path: Path) -> None:
    """An OperationalError (disk full, I/O) may have ended the transaction: no caller of
    the batch is told its write is durable."""
    w = SqliteWriter(tmp_path / "w.db", schema=SCHEMA)
    await w.start()
    try:
        def broken(c: sqlite3.Connection) -> None:
            c.execute("INSERT INTO no_such_table VALUES (1)")  # an OperationalError

        entered, release = threading.Event(), threading.Event()

        def gate(c: sqlite3.Connection) -> None:  # holds the writer while the batch queues
            entered.set()
            release.wait(5)

        first = asyncio.ensure_future(w.write(gate))
        assert await asyncio.to_thread(entered.wait, 5)
        batch = [asyncio.ensure_future(w.write(
            lambda c, i=i: c.execute("INSERT INTO t VALUES (?, 'x')", (i,)),
            one_statement=True)) for i in range(3)]
        batch.append(asyncio.ensure_future(w.write(broken, one_statement=True)))
        await asyncio.sleep(0)  # the tasks put their jobs on the queue
        release.set()
        await first
        results = await asyncio.gather(*batch, return_exceptions=True)
        assert all(isinstance(r, sqlite3.OperationalError) for r in results), results
        n = await w.read(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0])
        assert n == 0
    finally:
        await w.close()


async def test_queue_bound_and_misuse(tmp_path: Path) -> None:
    w = SqliteWriter(tmp_path / "w.db", schema=SCHEMA, max_pending=3)
    with pytest.raises(UsageError):
        await w.write(lambda c: None)
    await w.start()
    with pytest.raises(UsageError):
        await w.start()
    try:
        results = await asyncio.gather(
            *(w.write(lambda c, i=i: c.execute("INSERT INTO t VALUES (?, 'x')", (i,)))
              for i in range(10)), return_exceptions=True)
        refused = [r for r in results if isinstance(r, LimitExceeded)]
        assert len(refused) == 7 and w.pending == 0
    finally:
        await w.close()
    await w.close()  # closing twice is harmless


async def test_close_commits_queued_writes(tmp_path: Path) -> None:
    engine = SqliteTableEngine(tmp_path / "t.db")
    await engine.open()
    t = engine.table(TableSpec("chat", "room", "ts"))
    puts = [asyncio.ensure_future(t.put({"room": "r", "ts": i})) for i in range(50)]
    await asyncio.sleep(0)  # let the puts queue (a yield, not a timed wait)
    await engine.close()
    await asyncio.gather(*puts)
    engine = SqliteTableEngine(tmp_path / "t.db")
    await engine.open()
    try:
        page = await engine.table(TableSpec("chat", "room", "ts")).query("r", limit=100)
        assert len(page.items) == 50
    finally:
        await engine.close()


def test_engines_satisfy_the_protocols(tmp_path: Path) -> None:
    engine: TableEngine = create_table_engine("sqlite", tmp_path / "x.db")
    table: Table = engine.table(TableSpec("a", "p", "s"))
    assert table.spec.name == "a"
    with pytest.raises(UsageError):
        engine.table("a")  # type: ignore[arg-type]
