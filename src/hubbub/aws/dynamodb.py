"""hubbub's ``Table`` interface on a DynamoDB table (boto3's low-level client).

The semantics are the table contract's (``hubbub.tables.base``), with two differences that
DynamoDB imposes and this module makes explicit instead of surprising:

- a key attribute has one type (the export declares S): putting an item whose key has
  the other type raises ``BadRequest``; a get, delete or query with such a key finds
  nothing (locally it would simply not match either).
- DynamoDB deletes expired items "within a few days"; until then it returns them.
  hubbub hides them at once, so every read filters on the TTL attribute and conditional
  writes treat an expired item as absent.

Calls run in a worker thread (boto3 blocks) so a handler's concurrent calls overlap.
Pages: DynamoDB's ``Limit`` counts items *before* the TTL filter and it returns a
``LastEvaluatedKey`` whenever it stops at ``Limit``; this module reads on until it has
one item more than asked, so a page is full unless it is the last, and the last page
never comes with a cursor.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from botocore.exceptions import ClientError

from hubbub.errors import BadRequest, LimitExceeded
from hubbub.tables.base import (
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
    check_keys,
    check_query,
    encode_cursor,
    is_number,
    sort_tuple,
)

KeyType = Literal["S", "N"]
_THROTTLED = {"ProvisionedThroughputExceededException", "ThrottlingException",
              "RequestLimitExceeded"}
_OPS = {"eq": "=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def to_attr(value: Any) -> dict[str, Any]:
    """A JSON value as a DynamoDB AttributeValue (objects M, arrays L, numbers N)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, float):
        return {"N": str(int(value)) if value.is_integer() and abs(value) < 2**63 else repr(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list):
        return {"L": [to_attr(v) for v in value]}
    if isinstance(value, dict):
        return {"M": {str(k): to_attr(v) for k, v in value.items()}}
    raise BadRequest(f"{type(value).__name__} is not a JSON value")


def from_attr(attr: dict[str, Any]) -> Any:
    """A DynamoDB AttributeValue as JSON (numbers: int when integral, else float)."""
    (kind, v), = attr.items()
    match kind:
        case "S" | "BOOL":
            return v
        case "NULL":
            return None
        case "N":
            return _number(v)
        case "L":
            return [from_attr(x) for x in v]
        case "M":
            return {k: from_attr(x) for k, x in v.items()}
        case "SS":
            return sorted(v)
        case "NS":
            return sorted(_number(x) for x in v)
    raise BadRequest(f"attribute type {kind} has no JSON form")


def _number(text: str) -> int | float:
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise BadRequest(f"not a number: {text!r}") from None
    if d == d.to_integral_value() and abs(d) < 2**63:
        return int(d)
    return float(d)


class DynamoTable:
    """A ``hubbub.tables.base.Table`` backed by the DynamoDB table ``physical_name``."""

    def __init__(self, spec: TableSpec, client: Any, *, physical_name: str | None = None,
                 key_types: tuple[KeyType, KeyType] = ("S", "S"),
                 clock: Callable[[], float] = time.time) -> None:
        self.spec = spec
        self._client = client
        self._name = physical_name or spec.name
        self._types = key_types
        self._clock = clock

    # -- plumbing ----------------------------------------------------------------------

    async def _call(self, op: str, **params: Any) -> dict[str, Any]:
        try:
            result: dict[str, Any] = await asyncio.to_thread(
                getattr(self._client, op), TableName=self._name, **params)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            message = exc.response.get("Error", {}).get("Message", str(exc))
            if code == "ConditionalCheckFailedException":
                raise ConditionFailed(f"condition failed on table {self.spec.name}") from None
            if code in _THROTTLED:
                raise LimitExceeded(f"table {self.spec.name}: {code}") from None
            if code in ("ValidationException", "ResourceNotFoundException"):
                raise BadRequest(f"table {self.spec.name} ({self._name}): {code}: {message}"
                                 ) from None
            raise
        return result

    def _typed(self, value: Key, which: int) -> bool:
        return is_number(value) == (self._types[which] == "N")

    def _key(self, pk: Key, sk: Key) -> dict[str, Any]:
        return {self.spec.partition_key: to_attr(pk), self.spec.sort_key: to_attr(sk)}

    def _live(self, names: dict[str, str], values: dict[str, Any]) -> str | None:
        """A condition that holds unless the item's TTL has passed (None: no TTL)."""
        if self.spec.ttl_attribute is None:
            return None
        names["#ttl"] = self.spec.ttl_attribute
        values[":N"] = {"S": "N"}
        values[":now"] = {"N": repr(float(self._clock()))}
        # DynamoDB ignores a TTL that is not a number; so does hubbub (ttl_of).
        return "NOT (attribute_type(#ttl, :N) AND #ttl < :now)"

    def _expired(self, item: Item) -> bool:
        ttl = self.spec.ttl_attribute
        v = item.get(ttl) if ttl else None
        return (not isinstance(v, bool) and isinstance(v, (int, float))
                and v < self._clock())

    def _condition(self, c: Condition | None) -> dict[str, Any]:
        if c is None:
            return {}
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        live = self._live(names, values)
        if not isinstance(c, IfEquals):
            names["#pk"] = self.spec.partition_key
        match c:
            case IfAbsent():
                expr = "attribute_not_exists(#pk)"
                if live:
                    expr += f" OR NOT ({live})"
            case IfExists():
                expr = "attribute_exists(#pk)" + (f" AND {live}" if live else "")
            case IfEquals(attribute, value):
                names["#a"] = attribute
                values[":v"] = to_attr(value)
                # The type check says what DynamoDB means by '=' (true never equals 1), so
                # emulators that compare loosely (moto) agree.
                values[":t"] = {"S": next(iter(values[":v"]))}
                expr = "#a = :v AND attribute_type(#a, :t)" + (f" AND {live}" if live else "")
        out: dict[str, Any] = {"ConditionExpression": expr, "ExpressionAttributeNames": names}
        if values:
            out["ExpressionAttributeValues"] = values
        return out

    # -- Table -------------------------------------------------------------------------

    async def put(self, item: Item, *, condition: Condition | None = None) -> None:
        pk, sk, _, _ = check_item(self.spec, item)
        cond = check_condition(condition)
        for which, (name, v) in enumerate(((self.spec.partition_key, pk),
                                           (self.spec.sort_key, sk))):
            if not self._typed(v, which):
                raise BadRequest(f"table {self.spec.name}: key {name!r} is of DynamoDB type "
                                 f"{self._types[which]}, got {type(v).__name__} {v!r}")
        await self._call("put_item", Item={k: to_attr(v) for k, v in item.items()},
                         **self._condition(cond))

    async def get(self, pk: Key, sk: Key) -> Item | None:
        pk, sk = check_keys(pk, sk)
        if not (self._typed(pk, 0) and self._typed(sk, 1)):
            return None
        got = await self._call("get_item", Key=self._key(pk, sk), ConsistentRead=True)
        raw = got.get("Item")
        if raw is None:
            return None
        item: Item = from_attr({"M": raw})
        return None if self._expired(item) else item

    async def delete(self, pk: Key, sk: Key, *, condition: Condition | None = None) -> bool:
        pk, sk = check_keys(pk, sk)
        cond = check_condition(condition)
        if not (self._typed(pk, 0) and self._typed(sk, 1)):
            if cond is not None and not isinstance(cond, IfAbsent):
                raise ConditionFailed(f"condition failed on table {self.spec.name}")
            return False
        got = await self._call("delete_item", Key=self._key(pk, sk), ReturnValues="ALL_OLD",
                               **self._condition(cond))
        old = got.get("Attributes")
        return old is not None and not self._expired(from_attr({"M": old}))

    async def query(self, pk: Key, sk: SortKeyCondition | None = None, *,
                    forward: bool = True, limit: int = 100,
                    cursor: str | None = None) -> Page:
        pk, c, limit, after = check_query(pk, sk, limit, cursor)
        if not self._typed(pk, 0) or (after is not None and not self._typed(after, 1)):
            return Page([], None)
        names = {"#pk": self.spec.partition_key}
        values: dict[str, Any] = {":pk": to_attr(pk)}
        expr = "#pk = :pk"
        if c is not None:
            if not self._typed(c.value, 1) or (c.upper is not None
                                               and not self._typed(c.upper, 1)):
                return Page([], None)  # a condition only matches keys of its own type
            names["#sk"] = self.spec.sort_key
            values[":v"] = to_attr(c.value)
            if c.op == "begins_with":
                expr += " AND begins_with(#sk, :v)"
            elif c.op == "between":
                assert c.upper is not None
                if sort_tuple(c.value) > sort_tuple(c.upper):
                    return Page([], None)  # DynamoDB refuses; the contract matches nothing
                values[":u"] = to_attr(c.upper)
                expr += " AND #sk BETWEEN :v AND :u"
            else:
                expr += f" AND #sk {_OPS[c.op]} :v"
        params: dict[str, Any] = {"KeyConditionExpression": expr, "ScanIndexForward": forward,
                                  "ConsistentRead": True}
        live = self._live(names, values)
        if live:
            params["FilterExpression"] = live
        params["ExpressionAttributeNames"] = names
        params["ExpressionAttributeValues"] = values
        start = self._key(pk, after) if after is not None else None
        items: list[Item] = []
        while True:
            if start is not None:
                params["ExclusiveStartKey"] = start
            got = await self._call("query", Limit=limit + 1 - len(items), **params)
            items += [from_attr({"M": raw}) for raw in got.get("Items", [])]
            if len(items) > limit:
                last = items[limit - 1]
                return Page(items[:limit], encode_cursor(pk, last[self.spec.sort_key]))
            start = got.get("LastEvaluatedKey")
            if not start:
                return Page(items, None)
