"""The in-memory table engine: the reference semantics, for tests. Nothing survives close."""

from __future__ import annotations

import copy
import json
import time

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
    sk_matches,
    sort_tuple,
)

_Row = tuple[Item, float | None]  # (item, expires_at)


class MemoryTable:
    def __init__(self, spec: TableSpec, rows: dict[tuple[Key, Key], _Row], clock: Clock) -> None:
        self.spec = spec
        self._rows = rows
        self._clock = clock

    def _visible(self, pk: Key, sk: Key) -> Item | None:
        row = self._rows.get((pk, sk))
        if row is None or is_expired(row[1], self._clock()):
            return None
        return row[0]

    async def put(self, item: Item, *, condition: Condition | None = None) -> None:
        pk, sk, expires, text = check_item(self.spec, item)
        condition = check_condition(condition)
        if not condition_holds(condition, self._visible(pk, sk)):
            raise ConditionFailed(f"condition failed on {self.spec.name} ({pk!r}, {sk!r})")
        self._rows[(pk, sk)] = (json.loads(text), expires)

    async def get(self, pk: Key, sk: Key) -> Item | None:
        pk, sk = check_keys(pk, sk)
        item = self._visible(pk, sk)
        return copy.deepcopy(item) if item is not None else None

    async def delete(self, pk: Key, sk: Key, *, condition: Condition | None = None) -> bool:
        pk, sk = check_keys(pk, sk)
        condition = check_condition(condition)
        current = self._visible(pk, sk)
        if not condition_holds(condition, current):
            raise ConditionFailed(f"condition failed on {self.spec.name} ({pk!r}, {sk!r})")
        self._rows.pop((pk, sk), None)
        return current is not None

    async def query(self, pk: Key, sk: SortKeyCondition | None = None, *,
                    forward: bool = True, limit: int = 100,
                    cursor: str | None = None) -> Page:
        pk, cond, limit, after = check_query(pk, sk, limit, cursor)
        now = self._clock()
        keys = sorted((k[1] for k, (_, exp) in self._rows.items()
                       if k[0] == pk and not is_expired(exp, now) and sk_matches(cond, k[1])),
                      key=sort_tuple, reverse=not forward)
        if after is not None:
            a = sort_tuple(after)
            keys = [k for k in keys if (sort_tuple(k) > a if forward else sort_tuple(k) < a)]
        page = keys[:limit]
        items = [copy.deepcopy(self._rows[(pk, k)][0]) for k in page]
        more = len(keys) > limit
        return Page(items, encode_cursor(pk, page[-1]) if more else None)


class MemoryTableEngine:
    """Tables in a dict; ``clock`` returns epoch seconds (TTL)."""

    def __init__(self, *, clock: Clock = time.time) -> None:
        self._clock = clock
        self._tables: dict[str, dict[tuple[Key, Key], _Row]] = {}
        self._specs: dict[str, TableSpec] = {}

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def table(self, spec: TableSpec) -> MemoryTable:
        rows = self._tables.setdefault(spec.name, {})
        self._specs[spec.name] = spec
        return MemoryTable(spec, rows, self._clock)

    async def sweep_expired(self) -> int:
        now = self._clock()
        n = 0
        for rows in self._tables.values():
            dead = [k for k, (_, exp) in rows.items() if is_expired(exp, now)]
            for k in dead:
                del rows[k]
            n += len(dead)
        return n
