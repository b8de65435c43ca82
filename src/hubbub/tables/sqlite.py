"""The SQLite table engine (the default): one file in the data folder, WAL, group commit.

Every logical table lives in one physical table keyed by (table, pk, sk). The key columns
have no declared type, so SQLite keeps each value's own type: integers and reals compare
numerically, text by memcmp of its UTF-8 (the BINARY collation, the order DynamoDB uses
for strings), and numbers sort before text (SQLite §"Sort Order"), which is the mixed-type
order of ``hubbub.tables.base``. Writes go through ``SqliteWriter`` (see there for why a
writer thread, and why synchronous=NORMAL is enough for "acknowledged survives SIGKILL").
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from hubbub.errors import UsageError
from hubbub.tables.base import (
    Clock,
    Condition,
    ConditionFailed,
    Item,
    Key,
    Page,
    SortKeyCondition,
    TableSpec,
    check_condition,
    check_item,
    check_keys,
    check_query,
    condition_holds,
    encode_cursor,
    is_expired,
    is_number,
)
from hubbub.tables.sqlite_writer import SqliteWriter

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    tbl TEXT NOT NULL,
    pk NOT NULL,          -- no type: keeps TEXT or INTEGER/REAL as given
    sk NOT NULL,
    expires REAL,         -- the TTL attribute, epoch seconds, or NULL
    data TEXT NOT NULL,   -- the item as compact JSON
    PRIMARY KEY (tbl, pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_expires ON items (expires) WHERE expires IS NOT NULL;
"""

_PUT = "INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?, ?)"
_OPS = {"eq": "=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def _type_guard(k: Key) -> str:
    return ("typeof(sk) IN ('integer', 'real')" if is_number(k) else "typeof(sk) = 'text'")


def _sk_sql(c: SortKeyCondition | None) -> tuple[str, list[Any]]:
    if c is None:
        return "", []
    if c.op == "begins_with":
        prefix = str(c.value)
        # sk >= prefix lets the primary key index narrow the range first.
        return (" AND typeof(sk) = 'text' AND sk >= ? AND substr(sk, 1, ?) = ?",
                [prefix, len(prefix), prefix])
    if c.op == "between":
        return f" AND {_type_guard(c.value)} AND sk BETWEEN ? AND ?", [c.value, c.upper]
    return f" AND {_type_guard(c.value)} AND sk {_OPS[c.op]} ?", [c.value]


class SqliteTable:
    def __init__(self, spec: TableSpec, engine: SqliteTableEngine) -> None:
        self.spec = spec
        self._engine = engine

    @staticmethod
    def _current(conn: sqlite3.Connection, name: str, pk: Key, sk: Key,
                 now: float) -> Item | None:
        row = conn.execute("SELECT data, expires FROM items WHERE tbl = ? AND pk = ? AND sk = ?",
                           (name, pk, sk)).fetchone()
        if row is None or is_expired(row[1], now):
            return None
        item: Item = json.loads(row[0])
        return item

    async def put(self, item: Item, *, condition: Condition | None = None) -> None:
        pk, sk, expires, text = check_item(self.spec, item)
        condition = check_condition(condition)
        name, now = self.spec.name, self._engine.clock()

        row = (name, pk, sk, expires, text)
        if condition is None:  # one INSERT: no savepoint needed (SqliteWriter.write)
            await self._engine.writer.write(
                lambda conn: conn.execute(_PUT, row), one_statement=True)
            return

        def job(conn: sqlite3.Connection) -> None:
            if not condition_holds(condition, self._current(conn, name, pk, sk, now)):
                raise ConditionFailed(f"condition failed on {name} ({pk!r}, {sk!r})")
            conn.execute(_PUT, row)

        await self._engine.writer.write(job)

    async def get(self, pk: Key, sk: Key) -> Item | None:
        pk, sk = check_keys(pk, sk)
        name, now = self.spec.name, self._engine.clock()
        return await self._engine.writer.read(
            lambda conn: self._current(conn, name, pk, sk, now))

    async def delete(self, pk: Key, sk: Key, *, condition: Condition | None = None) -> bool:
        pk, sk = check_keys(pk, sk)
        condition = check_condition(condition)
        name, now = self.spec.name, self._engine.clock()

        def job(conn: sqlite3.Connection) -> bool:
            current = self._current(conn, name, pk, sk, now)
            if not condition_holds(condition, current):
                raise ConditionFailed(f"condition failed on {name} ({pk!r}, {sk!r})")
            conn.execute("DELETE FROM items WHERE tbl = ? AND pk = ? AND sk = ?", (name, pk, sk))
            return current is not None

        return await self._engine.writer.write(job)

    async def query(self, pk: Key, sk: SortKeyCondition | None = None, *,
                    forward: bool = True, limit: int = 100,
                    cursor: str | None = None) -> Page:
        pk, cond, limit, after = check_query(pk, sk, limit, cursor)
        where, params = _sk_sql(cond)
        if after is not None:
            where += " AND sk > ?" if forward else " AND sk < ?"
            params.append(after)
        sql = ("SELECT sk, data FROM items WHERE tbl = ? AND pk = ?"
               " AND (expires IS NULL OR expires >= ?)" + where +
               f" ORDER BY sk {'ASC' if forward else 'DESC'} LIMIT ?")
        args = [self.spec.name, pk, self._engine.clock(), *params, limit + 1]
        rows = await self._engine.writer.read(lambda conn: conn.execute(sql, args).fetchall())
        more = len(rows) > limit
        rows = rows[:limit]
        return Page([json.loads(r[1]) for r in rows],
                    encode_cursor(pk, rows[-1][0]) if more else None)


class SqliteTableEngine:
    """Tables in one SQLite file at ``path``; ``clock`` returns epoch seconds (TTL);
    ``power_safe`` selects synchronous=FULL (survives power loss, slower)."""

    def __init__(self, path: Path | str, *, clock: Clock = time.time, power_safe: bool = False,
                 max_batch: int = 1000, max_pending: int = 100_000) -> None:
        self.clock = clock
        self.writer = SqliteWriter(path, schema=SCHEMA, power_safe=power_safe,
                                   max_batch=max_batch, max_pending=max_pending)
        self._open = False

    async def open(self) -> None:
        await self.writer.start()
        self._open = True

    async def close(self) -> None:
        self._open = False
        await self.writer.close()

    def table(self, spec: TableSpec) -> SqliteTable:
        if not isinstance(spec, TableSpec):
            raise UsageError("table() needs a TableSpec")
        return SqliteTable(spec, self)

    async def sweep_expired(self) -> int:
        now = self.clock()

        def job(conn: sqlite3.Connection) -> int:
            return conn.execute("DELETE FROM items WHERE expires < ?", (now,)).rowcount

        return await self.writer.write(job)
