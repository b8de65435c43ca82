"""The table contract: every engine (memory, sqlite, postgres, and DynamoDB through the AWS
shim on moto) passes the same tests.

DynamoDB gives a key attribute one type: its tables are declared with a sort key of type N
or S (``new_table``), and the tests of mixed number/string sort keys skip it. What only
DynamoDB has (typed keys refused, physical names, attribute values) is tested in
tests/unit/export/test_aws_tables.py."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any

import pytest

from hubbub.errors import BadRequest, ConfigError
from hubbub.tables import (
    ConditionFailed,
    IfAbsent,
    IfEquals,
    IfExists,
    SortKeyCondition,
    TableSpec,
    create_table_engine,
)
from hubbub.tables.base import (
    MAX_ITEM_BYTES,
    begins_with,
    between,
    eq,
    ge,
    gt,
    le,
    lt,
    sk_matches,
    sort_tuple,
)


def spec(ttl: str | None = "expires") -> TableSpec:
    return TableSpec(f"t{uuid.uuid4().hex[:8]}", "room", "ts", ttl)


ONE_TYPE_PER_KEY = ("DynamoDB gives a key attribute one type: a table cannot hold both "
                    "number and string sort keys")


def new_table(engine: Any, keys: str = "N") -> Any:
    """A fresh table for sort keys that are numbers (N), strings (S) or both (mixed)."""
    if getattr(engine, "mixed_key_types", True):
        return engine.table(spec())
    if keys == "mixed":
        pytest.skip(ONE_TYPE_PER_KEY)
    return engine.table(spec(), sk_type=keys)


async def all_pages(table: Any, pk: Any, cond: Any = None, *, forward: bool = True,
                    limit: int = 3) -> list[Any]:
    out: list[Any] = []
    cursor = None
    for _ in range(1000):
        page = await table.query(pk, cond, forward=forward, limit=limit, cursor=cursor)
        assert len(page.items) <= limit
        out.extend(i["ts"] for i in page.items)
        cursor = page.next_cursor
        if cursor is None:
            return out
    raise AssertionError("pagination never ended")


async def test_put_get_replace_delete(table_engine: Any) -> None:
    t = new_table(table_engine)
    assert await t.get("lobby", 1) is None
    item = {"room": "lobby", "ts": 1, "text": "héllo", "nested": {"a": [1, 2.5, None, True]}}
    await t.put(item)
    assert await t.get("lobby", 1) == item
    await t.put({"room": "lobby", "ts": 1, "text": "second"})
    assert await t.get("lobby", 1) == {"room": "lobby", "ts": 1, "text": "second"}
    assert await t.get("lobby", 1.0) is not None  # 1 and 1.0 are the same number
    assert await t.get("lobby", "1") is None      # but not the string "1"
    assert await t.delete("lobby", 1) is True
    assert await t.delete("lobby", 1) is False
    assert await t.get("lobby", 1) is None


async def test_tables_are_separate(table_engine: Any) -> None:
    a, b = new_table(table_engine), new_table(table_engine)
    await a.put({"room": "r", "ts": 1, "v": "a"})
    assert await b.get("r", 1) is None
    assert (await b.query("r")).items == []


async def test_numeric_sort_keys_sort_numerically(table_engine: Any) -> None:
    t = new_table(table_engine)
    keys = [10, 2, -5, 1.5, 100, 0, 33]
    for k in keys:
        await t.put({"room": "r", "ts": k})
    assert await all_pages(t, "r") == sorted(keys)
    assert await all_pages(t, "r", forward=False) == sorted(keys, reverse=True)


@pytest.mark.parametrize("kind", ["S", "mixed"])
async def test_string_sort_keys_sort_by_utf8_bytes_after_numbers(table_engine: Any,
                                                                 kind: str) -> None:
    t = new_table(table_engine, kind)
    keys: list[Any] = ["b", "a", "Z", "é", "aa", "a b", "\u4e2d"]
    if kind == "mixed":
        keys += [7, 3]
    for k in keys:
        await t.put({"room": "r", "ts": k})
    assert await all_pages(t, "r", limit=2) == sorted(keys, key=sort_tuple)


CONDITIONS = [eq(5), lt(5), le(5), gt(5), ge(5), between(3, 7), between(7, 3), eq("m5"),
              lt("m5"), ge("m3"), between("m2", "m7"), begins_with("m"), begins_with("m1"),
              begins_with("x"), gt(4.5), lt(-1)]


NUMBER_KEYS: list[Any] = list(range(10))
STRING_KEYS: list[Any] = [*(f"m{i}" for i in range(10)), "m10", "n"]


@pytest.mark.parametrize("kind", ["N", "S", "mixed"])
@pytest.mark.parametrize("cond", CONDITIONS, ids=lambda c: f"{c.op}-{c.value}-{c.upper}")
async def test_sort_key_conditions_both_directions(table_engine: Any, kind: str,
                                                   cond: SortKeyCondition) -> None:
    t = new_table(table_engine, kind)
    keys = {"N": NUMBER_KEYS, "S": STRING_KEYS, "mixed": NUMBER_KEYS + STRING_KEYS}[kind]
    for k in keys:
        await t.put({"room": "r", "ts": k})
    await t.put({"room": "other", "ts": "m5" if kind == "S" else 5})
    want = sorted((k for k in keys if sk_matches(cond, k)), key=sort_tuple)
    assert await all_pages(t, "r", cond) == want
    assert await all_pages(t, "r", cond, forward=False) == want[::-1]


async def test_pagination_cursor_shape_and_exact_end(table_engine: Any) -> None:
    t = new_table(table_engine)
    for k in range(6):
        await t.put({"room": "r", "ts": k})
    page = await t.query("r", limit=6)
    assert [i["ts"] for i in page.items] == list(range(6))
    assert page.next_cursor is None  # exactly full: no empty extra page
    page = await t.query("r", limit=4)
    assert page.next_cursor is not None
    assert json.loads(base64.urlsafe_b64decode(page.next_cursor)) == {"pk": "r", "sk": 3}
    page2 = await t.query("r", limit=4, cursor=page.next_cursor)
    assert [i["ts"] for i in page2.items] == [4, 5]
    back = await t.query("r", forward=False, limit=2, cursor=page.next_cursor)
    assert [i["ts"] for i in back.items] == [2, 1]


async def test_bad_cursors(table_engine: Any) -> None:
    t = new_table(table_engine)
    await t.put({"room": "r", "ts": 1})
    await t.put({"room": "r", "ts": 2})
    cursor = (await t.query("r", limit=1)).next_cursor
    with pytest.raises(BadRequest, match="another partition"):
        await t.query("s", cursor=cursor)
    for bad in ["", "!!!", base64.urlsafe_b64encode(b"[1]").decode(), "bm90IGpzb24=", 5,
                base64.urlsafe_b64encode(b'{"pk":"r","sk":[1]}').decode()]:
        with pytest.raises(BadRequest):
            await t.query("r", cursor=bad)


async def put_expiring(t: Any, clock: Any) -> None:
    """Items 1 and 2 expire 10 s and 100 s from now; 3 and 4 never do."""
    now = clock()
    await t.put({"room": "r", "ts": 1, "expires": now + 10})
    await t.put({"room": "r", "ts": 2, "expires": now + 100})
    await t.put({"room": "r", "ts": 3})  # no TTL: never expires
    await t.put({"room": "r", "ts": 4, "expires": "soon"})  # non-numeric TTL is ignored


async def test_ttl_hides_expired_items(table_engine: Any, clock: Any) -> None:
    t = new_table(table_engine)
    await put_expiring(t, clock)
    clock.advance(10)
    assert await t.get("r", 1) is not None  # TTL equal to now: not yet "less than now"
    clock.advance(1)
    assert await t.get("r", 1) is None
    assert await all_pages(t, "r") == [2, 3, 4]
    assert await all_pages(t, "r", limit=1) == [2, 3, 4]  # hiding never shortens a page
    assert await t.delete("r", 1) is False  # expired counts as absent
    clock.advance(1000)
    assert await all_pages(t, "r", limit=2) == [3, 4]
    assert await all_pages(t, "r", forward=False, limit=1) == [4, 3]


async def test_ttl_sweep_deletes_what_is_hidden(table_engine: Any, clock: Any) -> None:
    # What is hidden, and when, is test_ttl_hides_expired_items; this is what a sweep removes.
    if not getattr(table_engine, "sweeps", True):
        pytest.skip("DynamoDB deletes expired items itself, 'within a few days': "
                    "no sweep on demand")
    t = new_table(table_engine)
    await put_expiring(t, clock)
    clock.advance(11)
    assert await t.delete("r", 1) is False  # expired counts as absent
    clock.advance(1000)
    assert await all_pages(t, "r") == [3, 4]
    swept = await table_engine.sweep_expired()
    assert swept == 1  # item 2 (item 1 was deleted above)
    assert await table_engine.sweep_expired() == 0
    assert await all_pages(t, "r") == [3, 4]


async def test_put_if_absent_over_expired_item(table_engine: Any, clock: Any) -> None:
    t = new_table(table_engine)
    await t.put({"room": "r", "ts": 1, "expires": clock() + 5, "v": 1})
    with pytest.raises(ConditionFailed):
        await t.put({"room": "r", "ts": 1, "v": 2}, condition=IfAbsent())
    with pytest.raises(ConditionFailed):
        await t.delete("r", 1, condition=IfEquals("v", 2))
    clock.advance(6)
    with pytest.raises(ConditionFailed):  # expired: as good as absent
        await t.put({"room": "r", "ts": 1, "v": 9}, condition=IfExists())
    await t.put({"room": "r", "ts": 1, "v": 3}, condition=IfAbsent())
    assert (await t.get("r", 1))["v"] == 3  # type: ignore[index]


async def test_conditional_puts(table_engine: Any) -> None:
    t = new_table(table_engine)
    with pytest.raises(ConditionFailed):
        await t.put({"room": "r", "ts": 1, "n": 0}, condition=IfExists())
    await t.put({"room": "r", "ts": 1, "n": 0}, condition=IfAbsent())
    with pytest.raises(ConditionFailed):
        await t.put({"room": "r", "ts": 1, "n": 9}, condition=IfAbsent())
    await t.put({"room": "r", "ts": 1, "n": 1}, condition=IfEquals("n", 0))
    with pytest.raises(ConditionFailed):
        await t.put({"room": "r", "ts": 1, "n": 2}, condition=IfEquals("n", 0))
    with pytest.raises(ConditionFailed):
        await t.put({"room": "r", "ts": 1, "n": 2}, condition=IfEquals("missing", 0))
    with pytest.raises(ConditionFailed):  # a boolean is not the number 1
        await t.put({"room": "r", "ts": 1, "n": 2}, condition=IfEquals("n", True))
    await t.put({"room": "r", "ts": 1, "n": 2, "o": {"k": [1]}}, condition=IfEquals("n", 1.0))
    await t.put({"room": "r", "ts": 1, "n": 3}, condition=IfEquals("o", {"k": [1]}))
    await t.put({"room": "r", "ts": 1, "n": 4}, condition=IfExists())
    assert await t.get("r", 1) == {"room": "r", "ts": 1, "n": 4}
    with pytest.raises(ConditionFailed):
        await t.delete("r", 1, condition=IfEquals("n", 3))
    assert await t.delete("r", 1, condition=IfEquals("n", 4)) is True


def needs_atomic_conditions(engine: Any) -> None:
    if not getattr(engine, "atomic_conditions", True):
        pytest.skip("moto checks a write's condition and then writes, without a lock, so two "
                    "threads can both pass it (DynamoDB itself serializes writes to an item)")


async def test_conditional_put_race_has_one_winner(table_engine: Any) -> None:
    needs_atomic_conditions(table_engine)
    t = new_table(table_engine)

    async def attempt(i: int) -> bool:
        try:
            await t.put({"room": "r", "ts": 1, "winner": i}, condition=IfAbsent())
            return True
        except ConditionFailed:
            return False

    results = await asyncio.gather(*(attempt(i) for i in range(30)))
    assert results.count(True) == 1
    winner = results.index(True)
    assert (await t.get("r", 1))["winner"] == winner  # type: ignore[index]


async def test_optimistic_counter_race(table_engine: Any) -> None:
    needs_atomic_conditions(table_engine)
    t = new_table(table_engine, "S")
    await t.put({"room": "r", "ts": "count", "n": 0})

    async def increment() -> None:
        while True:
            cur = await t.get("r", "count")
            try:
                await t.put({**cur, "n": cur["n"] + 1}, condition=IfEquals("n", cur["n"]))
                return
            except ConditionFailed:
                continue

    await asyncio.gather(*(increment() for _ in range(15)))
    assert (await t.get("r", "count"))["n"] == 15  # type: ignore[index]


async def test_many_concurrent_puts_all_land(table_engine: Any) -> None:
    t = new_table(table_engine)
    await asyncio.gather(*(t.put({"room": "r", "ts": i}) for i in range(300)))
    assert await all_pages(t, "r", limit=1000) == list(range(300))


BAD_ITEMS: list[Any] = [
    [], "item", None,
    {"ts": 1}, {"room": "r"},
    {"room": ["r"], "ts": 1}, {"room": None, "ts": 1}, {"room": True, "ts": 1},
    {"room": "r", "ts": {"a": 1}}, {"room": "", "ts": 1}, {"room": "r", "ts": float("nan")},
    {"room": "r", "ts": float("inf")}, {"room": "r", "ts": 2**70},
    {"room": "r", "ts": 1, "x": {1, 2}}, {"room": "r", "ts": 1, "x": float("nan")},
    {"room": "r" * 3000, "ts": 1}, {"room": "r", "ts": "s" * 1500},
]


@pytest.mark.parametrize("item", BAD_ITEMS, ids=range(len(BAD_ITEMS)))
async def test_bad_items_are_refused_clearly(table_engine: Any, item: Any) -> None:
    t = new_table(table_engine)
    with pytest.raises(BadRequest):
        await t.put(item)


async def test_bad_keys_and_arguments(table_engine: Any) -> None:
    t = new_table(table_engine)
    for pk, sk in [(None, 1), ("r", None), ([], 1), ("r", b"x"), (False, 1), ("", 1)]:
        with pytest.raises(BadRequest):
            await t.get(pk, sk)
        with pytest.raises(BadRequest):
            await t.delete(pk, sk)
    for limit in [0, -1, 10**6, "5", 2.0, True]:
        with pytest.raises(BadRequest):
            await t.query("r", limit=limit)
    for cond in [SortKeyCondition("like", "x"), begins_with(5),  # type: ignore[arg-type]
                 between(1, "z"), SortKeyCondition("between", 1), "ts = 1"]:
        with pytest.raises(BadRequest):
            await t.query("r", cond)
    for condition in [IfEquals("", 1), IfEquals("x", {1}), "attribute_not_exists(room)"]:
        with pytest.raises(BadRequest):
            await t.put({"room": "r", "ts": 1}, condition=condition)
    assert await t.get("r", 1) is None  # nothing was written by the refused calls


async def test_large_items(table_engine: Any) -> None:
    t = new_table(table_engine)
    # moto measures an item its own way and refuses it above 400,000 bytes.
    cap = getattr(table_engine, "max_item_bytes", MAX_ITEM_BYTES)
    big = {"room": "r", "ts": 1, "blob": "x" * (cap - 1000)}
    await t.put(big)
    assert await t.get("r", 1) == big
    with pytest.raises(BadRequest, match="larger"):
        await t.put({"room": "r", "ts": 2, "blob": "x" * (MAX_ITEM_BYTES + 1)})
    many = [{"room": "r", "ts": 10 + i, "blob": "y" * 100_000} for i in range(12)]
    await asyncio.gather(*(t.put(i) for i in many))
    page = await t.query("r", gt(9), limit=12)  # more than DynamoDB's 1 MB per response
    assert page.items == many
    assert page.next_cursor is None


async def test_unknown_engine_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown engine"):
        create_table_engine("dynamo-ish")
