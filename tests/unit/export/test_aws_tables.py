"""The table contract (tests/contract/test_tables.py) on DynamoDB through the Lambda shim,
against moto. DynamoDB gives a key attribute one type, so numeric and string sort keys
are tested on tables declared N and S; what DynamoDB cannot do (mixed key types, sweeping
expired items on demand) is left out, and the shim's explicit answer to it is tested."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any

import pytest

from hubbub.errors import BadRequest
from hubbub.tables import ConditionFailed, IfAbsent, IfEquals, IfExists, SortKeyCondition
from hubbub.tables.base import (
    MAX_ITEM_BYTES,
    TableSpec,
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

pytest.importorskip("moto")
from hubbub.aws.dynamodb import DynamoTable, from_attr, to_attr  # noqa: E402


def make(aws: Any, clock: Any, sk_type: str = "N", ttl: str | None = "expires") -> DynamoTable:
    client = aws("dynamodb")
    name = f"t{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "room", "KeyType": "HASH"},
                   {"AttributeName": "ts", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "room", "AttributeType": "S"},
                              {"AttributeName": "ts", "AttributeType": sk_type}])
    return DynamoTable(TableSpec(name, "room", "ts", ttl), client,
                       key_types=("S", sk_type), clock=clock)  # type: ignore[arg-type]


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


@pytest.mark.parametrize("value", [None, True, False, 0, -7, 2**62, 1.5, -0.25, 1e-5, "",
                                   "héllo", [], [1, "a", None], {}, {"a": {"b": [True]}}])
def test_attribute_values_round_trip(value: Any) -> None:
    assert from_attr(to_attr(value)) == value


async def test_put_get_replace_delete(aws: Any, clock: Any) -> None:
    t = make(aws, clock)
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


async def test_numeric_sort_keys_sort_numerically(aws: Any, clock: Any) -> None:
    t = make(aws, clock)
    keys = [10, 2, -5, 1.5, 100, 0, 33]
    for k in keys:
        await t.put({"room": "r", "ts": k})
    assert await all_pages(t, "r") == sorted(keys)
    assert await all_pages(t, "r", forward=False) == sorted(keys, reverse=True)


async def test_string_sort_keys_sort_by_utf8_bytes(aws: Any, clock: Any) -> None:
    t = make(aws, clock, "S")
    keys = ["b", "a", "Z", "é", "aa", "a b", "\u4e2d"]
    for k in keys:
        await t.put({"room": "r", "ts": k})
    assert await all_pages(t, "r", limit=2) == sorted(keys, key=sort_tuple)


CONDITIONS = [eq(5), lt(5), le(5), gt(5), ge(5), between(3, 7), between(7, 3), eq("m5"),
              lt("m5"), ge("m3"), between("m2", "m7"), begins_with("m"), begins_with("m1"),
              begins_with("x"), gt(4.5), lt(-1)]


@pytest.mark.parametrize("sk_type", ["N", "S"])
@pytest.mark.parametrize("cond", CONDITIONS, ids=lambda c: f"{c.op}-{c.value}-{c.upper}")
async def test_sort_key_conditions_both_directions(aws: Any, clock: Any, sk_type: str,
                                                   cond: SortKeyCondition) -> None:
    t = make(aws, clock, sk_type)
    keys: list[Any] = (list(range(10)) if sk_type == "N"
                       else [*(f"m{i}" for i in range(10)), "m10", "n"])
    for k in keys:
        await t.put({"room": "r", "ts": k})
    await t.put({"room": "other", "ts": 5 if sk_type == "N" else "m5"})
    want = sorted((k for k in keys if sk_matches(cond, k)), key=sort_tuple)
    assert await all_pages(t, "r", cond) == want
    assert await all_pages(t, "r", cond, forward=False) == want[::-1]


async def test_pagination_cursor_shape_and_exact_end(aws: Any, clock: Any) -> None:
    t = make(aws, clock)
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


async def test_bad_cursors(aws: Any, clock: Any) -> None:
    t = make(aws, clock)
    await t.put({"room": "r", "ts": 1})
    await t.put({"room": "r", "ts": 2})
    cursor = (await t.query("r", limit=1)).next_cursor
    with pytest.raises(BadRequest, match="another partition"):
        await t.query("s", cursor=cursor)
    for bad in ["", "!!!", base64.urlsafe_b64encode(b"[1]").decode(), "bm90IGpzb24=", 5,
                base64.urlsafe_b64encode(b'{"pk":"r","sk":[1]}').decode()]:
        with pytest.raises(BadRequest):
            await t.query("r", cursor=bad)


async def test_ttl_hides_expired_items(aws: Any, clock: Any) -> None:
    t = make(aws, clock)
    now = clock()
    await t.put({"room": "r", "ts": 1, "expires": now + 10})
    await t.put({"room": "r", "ts": 2, "expires": now + 100})
    await t.put({"room": "r", "ts": 3})  # no TTL: never expires
    await t.put({"room": "r", "ts": 4, "expires": "soon"})  # non-numeric TTL is ignored
    clock.advance(10)
    assert await t.get("r", 1) is not None  # TTL equal to now: not yet "less than now"
    clock.advance(1)
    assert await t.get("r", 1) is None
    assert await all_pages(t, "r") == [2, 3, 4]
    assert await all_pages(t, "r", limit=1) == [2, 3, 4]  # the filter never shortens a page
    assert await t.delete("r", 1) is False  # expired counts as absent
    clock.advance(1000)
    assert await all_pages(t, "r", limit=2) == [3, 4]
    assert await all_pages(t, "r", forward=False, limit=1) == [4, 3]


async def test_put_if_absent_over_expired_item(aws: Any, clock: Any) -> None:
    t = make(aws, clock)
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


async def test_conditional_puts(aws: Any, clock: Any) -> None:
    t = make(aws, clock)
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


async def test_concurrent_puts_all_land(aws: Any, clock: Any) -> None:
    t = make(aws, clock)
    await asyncio.gather(*(t.put({"room": "r", "ts": i}) for i in range(60)))
    assert await all_pages(t, "r", limit=1000) == list(range(60))


BAD_ITEMS: list[Any] = [
    [], "item", None,
    {"ts": 1}, {"room": "r"},
    {"room": ["r"], "ts": 1}, {"room": None, "ts": 1}, {"room": True, "ts": 1},
    {"room": "r", "ts": {"a": 1}}, {"room": "", "ts": 1}, {"room": "r", "ts": float("nan")},
    {"room": "r", "ts": float("inf")}, {"room": "r", "ts": 2**70},
    {"room": "r", "ts": 1, "x": {1, 2}}, {"room": "r", "ts": 1, "x": float("nan")},
    {"room": "r" * 3000, "ts": 1}, {"room": "r", "ts": "s" * 1500},
    # DynamoDB's own: one type per key attribute.
    {"room": "r", "ts": "1"}, {"room": 5, "ts": 1},
]


@pytest.mark.parametrize("item", BAD_ITEMS, ids=range(len(BAD_ITEMS)))
async def test_bad_items_are_refused_clearly(aws: Any, clock: Any, item: Any) -> None:
    t = make(aws, clock)
    with pytest.raises(BadRequest):
        await t.put(item)


async def test_bad_keys_and_arguments(aws: Any, clock: Any) -> None:
    t = make(aws, clock)
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
    # Keys of the other type find nothing, as locally (DynamoDB itself would refuse them).
    assert await t.get(5, 1) is None
    assert await t.delete("r", "1") is False
    assert (await t.query(5)).items == []


async def test_large_items(aws: Any, clock: Any) -> None:
    t = make(aws, clock)
    # moto caps items at 400,000 bytes (DynamoDB: 400 KB, by its own measure of the item).
    big = {"room": "r", "ts": 1, "blob": "x" * 399_000}
    await t.put(big)
    assert await t.get("r", 1) == big
    with pytest.raises(BadRequest, match="larger"):
        await t.put({"room": "r", "ts": 2, "blob": "x" * (MAX_ITEM_BYTES + 1)})
    many = [{"room": "r", "ts": 10 + i, "blob": "y" * 100_000} for i in range(12)]
    await asyncio.gather(*(t.put(i) for i in many))
    page = await t.query("r", gt(9), limit=12)  # more than DynamoDB's 1 MB per response
    assert page.items == many
    assert page.next_cursor is None


async def test_missing_table_is_a_clear_error(aws: Any, clock: Any) -> None:
    t = DynamoTable(TableSpec("absent", "room", "ts"), aws("dynamodb"), clock=clock)
    with pytest.raises(BadRequest, match="absent.*ResourceNotFound"):
        await t.get("r", "1")
