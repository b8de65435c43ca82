"""Tables in DynamoDB's model, the subset the chat needs: the interface and its value types.

An item is a JSON object. Its primary key is a partition key plus a sort key, named by the
table's ``TableSpec``; key values are strings or numbers (DynamoDB types S and N). Numbers
sort numerically, strings by their UTF-8 bytes (as DynamoDB compares them); if one table
mixes both, numbers sort before strings. Items whose TTL attribute (epoch seconds) is in
the past are invisible at once and deleted later by ``sweep_expired`` (DynamoDB deletes
them "within a few days"; until then it still shows them, hubbub hides them).

Engines: ``memory`` (tests), ``sqlite`` (default), ``postgres`` (several machines).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeAlias

from hubbub.errors import BadRequest, HubbubError

Item: TypeAlias = dict[str, Any]
Key: TypeAlias = str | int | float
Clock: TypeAlias = Callable[[], float]  # epoch seconds

#: DynamoDB's item size limit (400 KB), measured here on the item's compact JSON.
MAX_ITEM_BYTES = 400 * 1024
#: DynamoDB's limits on key values: 2048 bytes (partition) and 1024 bytes (sort).
MAX_PK_BYTES = 2048
MAX_SK_BYTES = 1024
#: Keeps numbers exact in SQLite (64-bit integers) and PostgreSQL alike.
_MAX_INT = 2**63 - 1
#: DynamoDB's Query returns at most 1 MB; a page here is at most this many items.
MAX_LIMIT = 1000


class ConditionFailed(HubbubError):
    """A conditional put or delete found the item not as expected
    (DynamoDB's ConditionalCheckFailedException)."""


@dataclass(frozen=True)
class TableSpec:
    """A table's name, key attribute names and optional TTL attribute."""

    name: str
    partition_key: str
    sort_key: str
    ttl_attribute: str | None = None


@dataclass(frozen=True)
class IfAbsent:
    """``attribute_not_exists(pk)``: the put succeeds only if no item has this key."""


@dataclass(frozen=True)
class IfExists:
    """``attribute_exists(pk)``: the write succeeds only if an item has this key."""


@dataclass(frozen=True)
class IfEquals:
    """``attribute = :value`` on the stored item: the write succeeds only if it holds."""

    attribute: str
    value: Any


Condition: TypeAlias = IfAbsent | IfExists | IfEquals

KeyOp: TypeAlias = Literal["eq", "lt", "le", "gt", "ge", "begins_with", "between"]


@dataclass(frozen=True)
class SortKeyCondition:
    """A Query's sort key condition (``KeyConditionExpression`` minus the partition key)."""

    op: KeyOp
    value: Key
    upper: Key | None = None  # only for "between" (inclusive on both ends, as DynamoDB)


def eq(v: Key) -> SortKeyCondition:
    return SortKeyCondition("eq", v)


def lt(v: Key) -> SortKeyCondition:
    return SortKeyCondition("lt", v)


def le(v: Key) -> SortKeyCondition:
    return SortKeyCondition("le", v)


def gt(v: Key) -> SortKeyCondition:
    return SortKeyCondition("gt", v)


def ge(v: Key) -> SortKeyCondition:
    return SortKeyCondition("ge", v)


def begins_with(prefix: str) -> SortKeyCondition:
    return SortKeyCondition("begins_with", prefix)


def between(low: Key, high: Key) -> SortKeyCondition:
    return SortKeyCondition("between", low, high)


@dataclass(frozen=True)
class Page:
    """One page of a query; pass ``next_cursor`` back to get the next (None: no more)."""

    items: list[Item]
    next_cursor: str | None


class Table(Protocol):
    """One table. Every method validates its input and raises ``BadRequest`` on bad input."""

    spec: TableSpec

    async def put(self, item: Item, *, condition: Condition | None = None) -> None:
        """Store ``item`` (replacing any item with its key); returns once durable.
        Raises ``ConditionFailed`` if ``condition`` does not hold."""
        ...

    async def get(self, pk: Key, sk: Key) -> Item | None: ...

    async def delete(self, pk: Key, sk: Key, *, condition: Condition | None = None) -> bool:
        """Delete the item; True if a visible item was deleted."""
        ...

    async def query(self, pk: Key, sk: SortKeyCondition | None = None, *,
                    forward: bool = True, limit: int = 100,
                    cursor: str | None = None) -> Page:
        """Items of partition ``pk`` matching ``sk``, in sort key order (reversed unless
        ``forward``), at most ``limit`` per page."""
        ...


class TableEngine(Protocol):
    """A storage engine holding any number of tables."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def table(self, spec: TableSpec) -> Table: ...

    async def sweep_expired(self) -> int:
        """Delete items whose TTL has passed; returns how many."""
        ...


# --- validation shared by every engine -------------------------------------------------


def check_key(value: Any, what: str) -> Key:
    """Validate one key value and normalise it (1.0 and 1 are the same DynamoDB number)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BadRequest(f"{what} must be a string or a number, not {type(value).__name__}")
    if isinstance(value, str):
        limit = MAX_PK_BYTES if what.startswith("partition") else MAX_SK_BYTES
        if not value:
            raise BadRequest(f"{what} must not be an empty string")
        if len(value.encode("utf-8", "surrogatepass")) > limit:
            raise BadRequest(f"{what} is longer than {limit} bytes")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BadRequest(f"{what} must be a finite number")
        if value.is_integer() and abs(value) <= _MAX_INT:
            return int(value)
        return value
    if abs(value) > _MAX_INT:
        raise BadRequest(f"{what} is out of range (at most 2**63-1 in magnitude)")
    return value


def is_number(k: Key) -> bool:
    return not isinstance(k, str)


# One encoder for every put: json.dumps() with options builds a new encoder per call.
_ITEM_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False)


def check_item(spec: TableSpec, item: Any) -> tuple[Key, Key, float | None, str]:
    """Validate an item; returns (pk, sk, expires_at, compact JSON)."""
    if not isinstance(item, dict):
        raise BadRequest(f"an item must be a JSON object, not {type(item).__name__}")
    for name in (spec.partition_key, spec.sort_key):
        if name not in item:
            raise BadRequest(f"item lacks its key attribute {name!r} (table {spec.name})")
    pk = check_key(item[spec.partition_key], f"partition key {spec.partition_key!r}")
    sk = check_key(item[spec.sort_key], f"sort key {spec.sort_key!r}")
    try:
        text = _ITEM_ENCODER.encode(item)
    except (TypeError, ValueError) as e:
        raise BadRequest(f"item is not JSON: {e}") from None
    if len(text.encode("utf-8", "surrogatepass")) > MAX_ITEM_BYTES:
        raise BadRequest(f"item is larger than {MAX_ITEM_BYTES} bytes")
    return pk, sk, ttl_of(spec, item), text


def ttl_of(spec: TableSpec, item: Item) -> float | None:
    """The item's expiry (epoch seconds), or None; DynamoDB ignores non-numeric TTLs."""
    if spec.ttl_attribute is None:
        return None
    v = item.get(spec.ttl_attribute)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def is_expired(expires: float | None, now: float) -> bool:
    # DynamoDB: an item is expired once its TTL is less than the current time.
    return expires is not None and expires < now


def check_sk_condition(c: SortKeyCondition | None) -> SortKeyCondition | None:
    if c is None:
        return None
    if not isinstance(c, SortKeyCondition):
        raise BadRequest("sort key condition must be a SortKeyCondition")
    value = check_key(c.value, "sort key condition value")
    if c.op == "begins_with":
        if not isinstance(value, str):
            raise BadRequest("begins_with needs a string prefix (DynamoDB type S)")
        return SortKeyCondition("begins_with", value)
    if c.op == "between":
        upper = check_key(c.upper, "sort key condition upper bound")
        if is_number(value) != is_number(upper):
            raise BadRequest("between needs two bounds of the same type")
        return SortKeyCondition("between", value, upper)
    if c.op not in ("eq", "lt", "le", "gt", "ge"):
        raise BadRequest(f"unknown sort key operator {c.op!r}")
    return SortKeyCondition(c.op, value)


def check_keys(pk: Any, sk: Any) -> tuple[Key, Key]:
    """An item's key as a get or delete names it: (partition key, sort key)."""
    return check_key(pk, "partition key"), check_key(sk, "sort key")


def check_query(pk: Any, sk: Any, limit: Any,
                cursor: Any) -> tuple[Key, SortKeyCondition | None, int, Key | None]:
    """A query's arguments: (partition key, sort key condition, limit, sort key to start
    after), checked in that order."""
    pk = check_key(pk, "partition key")
    cond, limit = check_sk_condition(sk), check_limit(limit)
    return pk, cond, limit, decode_cursor(cursor, pk) if cursor is not None else None


def check_limit(limit: Any) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return limit


def check_condition(c: Any) -> Condition | None:
    if c is None or isinstance(c, (IfAbsent, IfExists)):
        return c
    if isinstance(c, IfEquals):
        if not isinstance(c.attribute, str) or not c.attribute:
            raise BadRequest("IfEquals needs an attribute name")
        try:
            json.dumps(c.value, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise BadRequest(f"IfEquals value is not JSON: {e}") from None
        return c
    raise BadRequest(f"unknown condition {c!r}")


def condition_holds(c: Condition | None, current: Item | None) -> bool:
    """Evaluate a condition against the current visible item (None: absent)."""
    match c:
        case None:
            return True
        case IfAbsent():
            return current is None
        case IfExists():
            return current is not None
        case IfEquals(attribute, value):
            if current is None or attribute not in current:
                return False
            return json_equal(current[attribute], value)
    return False  # pragma: no cover


def json_equal(a: Any, b: Any) -> bool:
    # DynamoDB compares numbers by value and never equates a boolean with a number.
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def sk_matches(c: SortKeyCondition | None, sk: Key) -> bool:
    """The memory engine's (and the tests') reference semantics of a sort key condition."""
    if c is None:
        return True
    if c.op == "begins_with":
        return isinstance(sk, str) and sk.startswith(str(c.value))
    if is_number(sk) != is_number(c.value):
        return False  # a condition only matches keys of its own type
    a, v = sort_tuple(sk), sort_tuple(c.value)
    match c.op:
        case "eq":
            return a == v
        case "lt":
            return a < v
        case "le":
            return a <= v
        case "gt":
            return a > v
        case "ge":
            return a >= v
        case "between":
            assert c.upper is not None
            return v <= a <= sort_tuple(c.upper)
    return False  # pragma: no cover


def sort_tuple(k: Key) -> tuple[int, float, bytes]:
    """Total order over key values: numbers (numerically) before strings (by UTF-8 bytes)."""
    if isinstance(k, str):
        return (1, 0.0, k.encode("utf-8", "surrogatepass"))
    return (0, k, b"")


def encode_cursor(pk: Key, sk: Key) -> str:
    raw = json.dumps({"pk": pk, "sk": sk}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode_cursor(cursor: Any, pk: Key) -> Key:
    """Check an opaque cursor against the query's partition; returns the last sort key."""
    if not isinstance(cursor, str):
        raise BadRequest("cursor must be a string")
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        raise BadRequest("cursor is not a valid pagination cursor") from None
    if not isinstance(data, dict) or set(data) != {"pk", "sk"}:
        raise BadRequest("cursor is not a valid pagination cursor")
    if check_key(data["pk"], "cursor partition key") != pk:
        raise BadRequest("cursor belongs to another partition")
    return check_key(data["sk"], "cursor sort key")
