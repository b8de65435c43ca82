"""Group commit for SQLite: one writer thread, many concurrent callers, one fsync per batch.

Why a dedicated writer thread rather than calling sqlite3 inline on the event loop: a
durable COMMIT waits for write()/fsync(), which would stall every connection of the broker
for that long. With one thread owning the write connection, callers queue their jobs and
await a future; while the thread commits batch N, the jobs of batch N+1 pile up in the
queue and are all committed by the next single COMMIT. Under load that is one commit for
hundreds of puts (group commit); when idle a lone put is committed at once, no timer adds
latency. Each job runs inside its own SAVEPOINT so a failing job (a failed condition)
rolls back alone and the rest of the batch still commits.

Durability: journal_mode=WAL with synchronous=NORMAL. A commit has then been written to
the WAL file (in the OS page cache) when COMMIT returns, so it survives SIGKILL of the
process, which is what "acknowledged" promises here; it may be lost on power failure or
an OS crash. synchronous=FULL (``power_safe=True``) also fsyncs the WAL on every commit
and survives those too, at a higher cost per batch. (SQLite docs: "WAL mode ... synchronous
NORMAL ... is consistent and durable against application crashes".)

Reads run on a second thread with their own connection; WAL lets them proceed while the
writer commits.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from hubbub.errors import LimitExceeded, UsageError

T = TypeVar("T")
Job = Callable[[sqlite3.Connection], Any]

_STOP = object()


class _Pending:
    __slots__ = ("job", "future", "loop", "one_statement")

    def __init__(self, job: Job, future: asyncio.Future[Any], loop: asyncio.AbstractEventLoop,
                 one_statement: bool = False):
        self.job = job
        self.future = future
        self.loop = loop
        self.one_statement = one_statement


def _settle(results: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for fut, ok, value in results:
        if fut.done():
            continue  # the caller gave up (cancelled); the write still happened
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)


def connect(path: Path | str, *, power_safe: bool = False) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves (group commit needs it).
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False,
                           timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if power_safe else 'NORMAL'}")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class SqliteWriter:
    """Runs write jobs on one thread and commits concurrent jobs in one transaction.

    ``max_batch`` bounds the jobs per transaction; ``max_pending`` bounds the queue: a
    submit beyond it raises ``LimitExceeded`` at once (callers decide to drop or retry).
    """

    def __init__(self, path: Path | str, *, schema: str = "", power_safe: bool = False,
                 max_batch: int = 1000, max_pending: int = 100_000) -> None:
        self.path = Path(path)
        self._schema = schema
        self._power_safe = power_safe
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pending = 0  # only touched on the event loop thread
        self._thread: threading.Thread | None = None
        self._reader: ThreadPoolExecutor | None = None
        self._read_conn: sqlite3.Connection | None = None
        self.commits = 0  # transactions committed (for tests and benchmarks)
        self.jobs = 0

    async def start(self) -> None:
        if self._thread is not None:
            raise UsageError("SqliteWriter started twice")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = await asyncio.to_thread(self._open_writer)
        self._thread = threading.Thread(target=self._run, args=(conn,),
                                        name=f"sqlite-writer:{self.path.name}", daemon=True)
        self._thread.start()
        self._reader = ThreadPoolExecutor(1, thread_name_prefix=f"sqlite-reader:{self.path.name}")
        self._read_conn = await asyncio.get_running_loop().run_in_executor(
            self._reader, lambda: connect(self.path, power_safe=self._power_safe))

    def _open_writer(self) -> sqlite3.Connection:
        conn = connect(self.path, power_safe=self._power_safe)
        if self._schema:
            conn.executescript(self._schema)
        return conn

    async def close(self) -> None:
        """Finish queued jobs, then stop both threads and close the connections."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)
        self._thread = None
        if self._reader is not None:
            conn = self._read_conn
            if conn is not None:
                await asyncio.get_running_loop().run_in_executor(self._reader, conn.close)
            self._reader.shutdown(wait=True)
            self._reader = None
            self._read_conn = None

    async def write(self, job: Callable[[sqlite3.Connection], T], *,
                    one_statement: bool = False) -> T:
        """Run ``job`` in a transaction on the writer thread; returns once committed.

        ``one_statement``: the job executes a single SQL statement, which SQLite undoes
        by itself when it fails ("statement journal"), so the job needs no savepoint of
        its own (two statements less per job: a plain put is one INSERT).
        """
        if self._thread is None:
            raise UsageError("SqliteWriter is not started")
        if self._pending >= self._max_pending:
            raise LimitExceeded(f"{self._pending} writes already queued for {self.path.name}")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._pending += 1
        try:
            self._queue.put(_Pending(job, fut, loop, one_statement))
            return await fut
        finally:
            self._pending -= 1

    @property
    def pending(self) -> int:
        return self._pending

    async def read(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read-only ``job`` on the reader thread."""
        if self._reader is None or self._read_conn is None:
            raise UsageError("SqliteWriter is not started")
        conn = self._read_conn
        return await asyncio.get_running_loop().run_in_executor(self._reader, job, conn)

    def _run(self, conn: sqlite3.Connection) -> None:
        try:
            while True:
                first = self._queue.get()
                if first is _STOP:
                    return
                batch: list[_Pending] = [first]
                stop = False
                while len(batch) < self._max_batch:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        stop = True
                        break
                    batch.append(nxt)
                self._commit(conn, batch)
                if stop:
                    return
        finally:
            conn.close()

    def _commit(self, conn: sqlite3.Connection, batch: list[_Pending]) -> None:
        results: list[tuple[asyncio.Future[Any], bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for p in batch:
                if p.one_statement:
                    try:
                        value = p.job(conn)
                    except sqlite3.OperationalError:
                        raise  # I/O error, disk full: the transaction fails as a whole
                    except Exception as e:  # a constraint: that statement alone undone
                        results.append((p.future, False, e))
                    else:
                        results.append((p.future, True, value))
                    continue
                conn.execute("SAVEPOINT job")
                try:
                    value = p.job(conn)
                except Exception as e:  # handed to the caller, who raises it
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    results.append((p.future, False, e))
                else:
                    conn.execute("RELEASE job")
                    results.append((p.future, True, value))
            conn.execute("COMMIT")
            self.commits += 1
            self.jobs += len(batch)
        except sqlite3.Error as e:
            # The transaction itself failed (disk full, I/O error): nothing of it is
            # durable, so every caller of the batch gets the error.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            results = [(p.future, False, e) for p in batch]
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]]
        by_loop = {}
        for p, r in zip(batch, results, strict=True):
            by_loop.setdefault(p.loop, []).append(r)
        for loop, rs in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, rs)
            except RuntimeError:
                pass  # that loop is closed: nobody is waiting any more
