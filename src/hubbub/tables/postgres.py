"""The PostgreSQL table engine (several machines), via psycopg 3's async API. Items are JSONB.

Keys: the partition key is stored as text tagged with its type ("S:room", "N:42"); the
sort key as (kind, number, text) so that a composite index gives DynamoDB's order:
numbers numerically, strings bytewise (COLLATE "C"), numbers before strings.

Writes from concurrent callers are group-committed by one writer task on one connection
(the same idea as ``hubbub.tables.sqlite_writer``); each job runs in a savepoint. Conditions
are evaluated inside SQL statements (INSERT ... ON CONFLICT ... WHERE, UPDATE ... WHERE) so
that they stay atomic when several hubbub nodes write to the same table.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

from hubbub.errors import BadRequest, LimitExceeded, UsageError
from hubbub.tables.base import (
    Clock,
    Condition,
    ConditionFailed,
    IfAbsent,
    IfEquals,
    IfExists,
    Item,
    Key,
    Page,
    SortKeyCondition,
    TableSpec,
    check_condition,
    check_item,
    check_key,
    check_keys,
    check_query,
    condition_holds,
    encode_cursor,
    is_expired,
    is_number,
)

try:
    import psycopg
except ImportError:  # pragma: no cover - the "postgres" extra is not installed
    psycopg = None  # type: ignore[assignment]

T = TypeVar("T")
Conn = Any  # psycopg.AsyncConnection[Any]; Any keeps the optional import optional
Job = Callable[[Conn], Awaitable[Any]]

SCHEMA = """
CREATE TABLE IF NOT EXISTS hubbub_items (
    tbl TEXT NOT NULL,
    pk TEXT NOT NULL,
    sk_kind SMALLINT NOT NULL,           -- 0 number, 1 string
    sk_n NUMERIC NOT NULL,
    sk_s TEXT COLLATE "C" NOT NULL,
    expires DOUBLE PRECISION,
    data JSONB NOT NULL,
    PRIMARY KEY (tbl, pk, sk_kind, sk_n, sk_s)
);
CREATE INDEX IF NOT EXISTS hubbub_items_expires ON hubbub_items (expires)
    WHERE expires IS NOT NULL;
"""

_KEY = "tbl = %s AND pk = %s AND sk_kind = %s AND sk_n = %s AND sk_s = %s"
_VISIBLE = "(expires IS NULL OR expires >= %s)"
_OPS = {"eq": "=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def _num(k: Key) -> Decimal:
    return Decimal(repr(k)) if isinstance(k, float) else Decimal(int(k))


def _pk(k: Key) -> str:
    return f"S:{k}" if isinstance(k, str) else f"N:{_num(k)}"


def _sk(k: Key) -> tuple[int, Decimal, str]:
    return (1, Decimal(0), k) if isinstance(k, str) else (0, _num(k), "")


def _sk_sql(c: SortKeyCondition | None) -> tuple[str, list[Any]]:
    if c is None:
        return "", []
    if c.op == "begins_with":
        return " AND sk_kind = 1 AND sk_s >= %s AND starts_with(sk_s, %s)", [c.value, c.value]
    col = "sk_n" if is_number(c.value) else "sk_s"
    kind = 0 if is_number(c.value) else 1
    val: Any = _num(c.value) if is_number(c.value) else c.value
    if c.op == "between":
        assert c.upper is not None
        hi: Any = _num(c.upper) if is_number(c.upper) else c.upper
        return f" AND sk_kind = {kind} AND {col} BETWEEN %s AND %s", [val, hi]
    return f" AND sk_kind = {kind} AND {col} {_OPS[c.op]} %s", [val]


class PostgresTable:
    def __init__(self, spec: TableSpec, engine: PostgresTableEngine) -> None:
        self.spec = spec
        self._engine = engine

    def _key(self, pk: Key, sk: Key) -> list[Any]:
        return [self.spec.name, _pk(pk), *_sk(sk)]

    async def put(self, item: Item, *, condition: Condition | None = None) -> None:
        pk, sk, expires, text = check_item(self.spec, item)
        condition = check_condition(condition)
        if "\x00" in text:
            raise BadRequest("PostgreSQL cannot store NUL characters in an item")
        key, now = self._key(pk, sk), self._engine.clock()
        insert = ("INSERT INTO hubbub_items VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb)"
                  " ON CONFLICT (tbl, pk, sk_kind, sk_n, sk_s) DO UPDATE"
                  " SET expires = EXCLUDED.expires, data = EXCLUDED.data")
        match condition:
            case None:
                sql, args = insert, [*key, expires, text]
            case IfAbsent():
                # Replaces only an expired row: an expired item counts as absent.
                sql = insert + (" WHERE hubbub_items.expires IS NOT NULL"
                                " AND hubbub_items.expires < %s RETURNING 1")
                args = [*key, expires, text, now]
            case IfExists():
                sql = (f"UPDATE hubbub_items SET expires = %s, data = %s::jsonb"
                       f" WHERE {_KEY} AND {_VISIBLE} RETURNING 1")
                args = [expires, text, *key, now]
            case IfEquals(attribute, value):
                sql = (f"UPDATE hubbub_items SET expires = %s, data = %s::jsonb"
                       f" WHERE {_KEY} AND {_VISIBLE} AND data -> %s = %s::jsonb RETURNING 1")
                args = [expires, text, *key, now, attribute, json.dumps(value)]
        name = self.spec.name

        async def job(conn: Conn) -> None:
            cur = await conn.execute(sql, args)
            if condition is not None and await cur.fetchone() is None:
                raise ConditionFailed(f"condition failed on {name} ({pk!r}, {sk!r})")

        await self._engine.write(job)

    async def get(self, pk: Key, sk: Key) -> Item | None:
        pk, sk = check_keys(pk, sk)
        row = await self._engine.read_one(
            f"SELECT data FROM hubbub_items WHERE {_KEY} AND {_VISIBLE}",
            [*self._key(pk, sk), self._engine.clock()])
        return row[0] if row is not None else None

    async def delete(self, pk: Key, sk: Key, *, condition: Condition | None = None) -> bool:
        pk, sk = check_keys(pk, sk)
        condition = check_condition(condition)
        key, now, name = self._key(pk, sk), self._engine.clock(), self.spec.name

        async def job(conn: Conn) -> bool:
            cur = await conn.execute(
                f"SELECT data, expires FROM hubbub_items WHERE {_KEY} FOR UPDATE", key)
            row = await cur.fetchone()
            current = row[0] if row is not None and not is_expired(row[1], now) else None
            if not condition_holds(condition, current):
                raise ConditionFailed(f"condition failed on {name} ({pk!r}, {sk!r})")
            await conn.execute(f"DELETE FROM hubbub_items WHERE {_KEY}", key)
            return current is not None

        return bool(await self._engine.write(job))

    async def query(self, pk: Key, sk: SortKeyCondition | None = None, *,
                    forward: bool = True, limit: int = 100,
                    cursor: str | None = None) -> Page:
        pk, cond, limit, after = check_query(pk, sk, limit, cursor)
        where, params = _sk_sql(cond)
        if after is not None:
            where += f" AND (sk_kind, sk_n, sk_s) {'>' if forward else '<'} (%s, %s, %s)"
            params.extend(_sk(after))
        d = "ASC" if forward else "DESC"
        sql = (f"SELECT data FROM hubbub_items WHERE tbl = %s AND pk = %s AND {_VISIBLE}"
               f"{where} ORDER BY sk_kind {d}, sk_n {d}, sk_s {d} LIMIT %s")
        rows = await self._engine.read_all(
            sql, [self.spec.name, _pk(pk), self._engine.clock(), *params, limit + 1])
        more = len(rows) > limit
        items: list[Item] = [r[0] for r in rows[:limit]]
        last = check_key(items[-1][self.spec.sort_key], "sort key") if more else None
        return Page(items, encode_cursor(pk, last) if last is not None else None)


class PostgresTableEngine:
    """Tables in PostgreSQL at ``dsn`` (a libpq connection string or URL)."""

    def __init__(self, dsn: str, *, clock: Clock = time.time, max_batch: int = 1000,
                 max_pending: int = 100_000) -> None:
        if psycopg is None:
            raise UsageError("the postgres engine needs psycopg: pip install hubbub[postgres]")
        self.clock = clock
        self._dsn = dsn
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._queue: asyncio.Queue[tuple[Job, asyncio.Future[Any]]] = asyncio.Queue()
        self._pending = 0
        self._writer: Conn | None = None
        self._reader: Conn | None = None
        self._task: asyncio.Task[None] | None = None
        self.commits = 0

    async def open(self) -> None:
        assert psycopg is not None
        self._writer = await psycopg.AsyncConnection.connect(self._dsn)
        self._reader = await psycopg.AsyncConnection.connect(self._dsn, autocommit=True)
        async with self._writer.transaction():
            # Serialise schema creation between nodes starting at once.
            await self._writer.execute("SELECT pg_advisory_xact_lock(4242001)")
            await self._writer.execute(SCHEMA)
        self._task = asyncio.create_task(self._run(), name="postgres-table-writer")

    async def close(self) -> None:
        if self._task is not None:
            while self._pending:  # let queued writes commit: callers are waiting on them
                await asyncio.sleep(0)
                if self._task.done():
                    break
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for conn in (self._writer, self._reader):
            if conn is not None:
                await conn.close()
        self._writer = self._reader = None

    def table(self, spec: TableSpec) -> PostgresTable:
        if not isinstance(spec, TableSpec):
            raise UsageError("table() needs a TableSpec")
        return PostgresTable(spec, self)

    async def sweep_expired(self) -> int:
        now = self.clock()

        async def job(conn: Conn) -> int:
            cur = await conn.execute("DELETE FROM hubbub_items WHERE expires < %s", [now])
            return int(cur.rowcount)

        return int(await self.write(job))

    async def write(self, job: Callable[[Conn], Awaitable[T]]) -> T:
        """Run ``job`` in a savepoint of the next group-committed transaction."""
        if self._task is None:
            raise UsageError("PostgresTableEngine is not open")
        if self._pending >= self._max_pending:
            raise LimitExceeded(f"{self._pending} writes already queued for PostgreSQL")
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending += 1
        try:
            self._queue.put_nowait((job, fut))
            return await fut
        finally:
            self._pending -= 1

    async def read_one(self, sql: str, args: list[Any]) -> Any:
        assert self._reader is not None, "engine not open"
        cur = await self._reader.execute(sql, args)
        return await cur.fetchone()

    async def read_all(self, sql: str, args: list[Any]) -> list[Any]:
        assert self._reader is not None, "engine not open"
        cur = await self._reader.execute(sql, args)
        return list(await cur.fetchall())

    async def _run(self) -> None:
        conn = self._writer
        assert conn is not None
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            results: list[tuple[bool, Any]] = []
            try:
                async with conn.transaction():
                    for job, _ in batch:
                        try:
                            async with conn.transaction():  # a savepoint per job
                                results.append((True, await job(conn)))
                        except Exception as e:  # handed to that job's caller
                            results.append((False, _translate(e)))
                self.commits += 1
            except Exception as e:  # the commit failed: nothing of the batch is durable
                results = [(False, e)] * len(batch)
            for (_, fut), (ok, value) in zip(batch, results, strict=True):
                if fut.done():
                    continue
                if ok:
                    fut.set_result(value)
                else:
                    fut.set_exception(value)


def _translate(e: Exception) -> Exception:
    if psycopg is not None and isinstance(e, psycopg.errors.DataError):
        return BadRequest(f"PostgreSQL refused the value: {e}")
    return e
