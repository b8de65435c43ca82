"""IoT SQL values: the Undefined marker, type tests and the documented conversions.

Values are plain Python JSON values: ``int`` is IoT SQL's Int, ``float`` its Decimal,
``str``/``bool``/``None``/``list``/``dict`` the rest, plus ``UNDEFINED``. Raw (non-JSON)
payload bytes appear only as ``bytes`` where ``*`` names the whole message.

Rules follow the IoT SQL reference, "Data types" and "Conversions" pages. With SQL
version 2016-03-23 a whole-number Decimal (``10.0``) is processed as an Int (``10``), so
every numeric result goes through ``num``.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final


class _Undefined:
    """Not a value: a missing attribute or a function given invalid arguments."""

    __slots__ = ()
    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "Undefined"

    def __bool__(self) -> bool:
        return False


UNDEFINED: Final = _Undefined()

# Java's BigDecimal(String) grammar, which the string -> Decimal conversion follows.
_NUMBER_RE = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*\Z")


def is_undefined(v: Any) -> bool:
    return v is UNDEFINED


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def num(v: int | float) -> Any:
    """Normalize a numeric result: non-finite is Undefined, whole Decimals become Int."""
    if isinstance(v, float):
        if not math.isfinite(v):
            return UNDEFINED
        if v.is_integer():
            return int(v)
    return v


def parse_number(s: str) -> Any:
    """String -> Decimal (or Int when whole), Undefined when not a number."""
    if not _NUMBER_RE.match(s):
        return UNDEFINED
    s = s.strip()
    if re.fullmatch(r"[+-]?\d+", s):
        return int(s)
    try:
        return num(float(s))
    except (ValueError, OverflowError):
        return UNDEFINED


def to_decimal(v: Any) -> Any:
    """The "To Decimal" table: numbers pass, strings parse, everything else is Undefined."""
    if is_number(v):
        return v
    if isinstance(v, str):
        return parse_number(v)
    return UNDEFINED


def to_int(v: Any) -> Any:
    """The "To Int" table: Decimals truncate toward zero, strings parse then truncate."""
    d = to_decimal(v)
    if d is UNDEFINED:
        return UNDEFINED
    if isinstance(d, float):
        return math.trunc(d)
    return d


def to_bool(v: Any) -> Any:
    """Operand conversion for AND/OR/NOT: Booleans, or the strings "true"/"false"."""
    if isinstance(v, bool):
        return v
    if isinstance(v, str):
        low = v.lower()
        if low == "true":
            return True
        if low == "false":
            return False
    return UNDEFINED


def format_number(v: int | float) -> str:
    if isinstance(v, float):
        return repr(v)
    return str(v)


def to_string(v: Any) -> Any:
    """The "To String" table; Arrays and Objects become their JSON text."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if is_number(v):
        return format_number(v)
    if v is None:
        return "null"
    if isinstance(v, (list, dict)):
        return dumps(v)
    return UNDEFINED


def strip_undefined(v: Any) -> Any:
    """Drop Undefined members of Arrays and Objects, as JSON serialization does.

    {"foo": null, "bar": undefined} serializes as {"foo":null} ("Data types"). Iterative,
    so a deeply nested payload cannot exhaust the stack here.
    """
    if not isinstance(v, (dict, list)):
        return v
    if isinstance(v, dict):
        for x in v.values():
            if x is UNDEFINED or isinstance(x, (dict, list)):
                break
        else:
            return v  # flat and clean (a typical SELECT output): nothing to drop, no copy
    holder: list[Any] = [None]
    stack: list[tuple[Any, Any, Any]] = [(v, holder, 0)]
    while stack:
        src, parent, key = stack.pop()
        if isinstance(src, dict):
            new_d: dict[str, Any] = {}
            parent[key] = new_d
            for k, x in src.items():
                if x is UNDEFINED:
                    continue
                new_d[k] = x
                if isinstance(x, (dict, list)):
                    stack.append((x, new_d, k))
        else:
            new_l: list[Any] = []
            parent[key] = new_l
            for x in src:
                if x is UNDEFINED:
                    continue
                new_l.append(x)
                if isinstance(x, (dict, list)):
                    stack.append((x, new_l, len(new_l) - 1))
    return holder[0]


# One encoder for every payload: json.dumps() with any non-default option builds a new
# JSONEncoder per call, which cost as much as the encoding of a chat message itself.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(v: Any) -> str:
    """Serialize a value to compact JSON; Undefined by itself is the empty string."""
    if v is UNDEFINED:
        return ""
    try:
        return _ENCODER.encode(strip_undefined(v))
    except RecursionError:
        raise ValueError("value is nested too deeply to serialize as JSON") from None


def _parse_float(s: str) -> Any:
    f = float(s)
    if not math.isfinite(f):  # beyond a double's range: we cannot hold it, refuse the JSON
        raise ValueError(f"number {s} is out of range")
    return num(f)


def _parse_constant(s: str) -> Any:
    raise ValueError(f"{s} is not JSON")


# One decoder, as for encoding: json.loads() with hooks builds a new JSONDecoder per call.
_DECODER = json.JSONDecoder(parse_float=_parse_float, parse_constant=_parse_constant)


def loads(data: bytes | str) -> Any:
    """Parse a JSON payload the way SQL 2016-03-23 sees it; Undefined when not JSON."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return _DECODER.decode(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return UNDEFINED


def type_name(v: Any) -> str:
    if v is UNDEFINED:
        return "Undefined"
    if v is None:
        return "Null"
    if isinstance(v, bool):
        return "Boolean"
    if isinstance(v, int):
        return "Int"
    if isinstance(v, float):
        return "Decimal"
    if isinstance(v, str):
        return "String"
    if isinstance(v, list):
        return "Array"
    if isinstance(v, dict):
        return "Object"
    return "Binary"
