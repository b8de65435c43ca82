"""IoT SQL operators, per the reference's "Operators" tables.

Any operand that is Undefined makes the result Undefined; so does a type the table does
not list. Int op Int stays Int (``/`` truncates toward zero, ``%`` keeps the dividend's
sign, both as Java's long arithmetic does); a Decimal on either side gives a Decimal.
"""

from __future__ import annotations

import math
from typing import Any

from hubbub.rules.values import UNDEFINED, is_number, num, to_bool, to_decimal

# Exact types (``type(x) is``): bool is not an int here, and Undefined is none of them.
_SCALARS = frozenset((str, int, float, bool, type(None)))
_NUMBERS = frozenset((int, float))


def logical_and(a: Any, b: Any) -> Any:
    x, y = to_bool(a), to_bool(b)
    if x is UNDEFINED or y is UNDEFINED:
        return UNDEFINED
    return x and y


def logical_or(a: Any, b: Any) -> Any:
    x, y = to_bool(a), to_bool(b)
    if x is UNDEFINED or y is UNDEFINED:
        return UNDEFINED
    return x or y


def logical_not(a: Any) -> Any:
    x = to_bool(a)
    return UNDEFINED if x is UNDEFINED else not x


def _numeric_operands(a: Any, b: Any) -> tuple[Any, Any] | None:
    # Strings that read as numbers are converted ("Conversions" table); nothing else is.
    x, y = to_decimal(a), to_decimal(b)
    if x is UNDEFINED or y is UNDEFINED:
        return None
    return x, y


def _int_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def arithmetic(op: str, a: Any, b: Any) -> Any:
    if a is UNDEFINED or b is UNDEFINED:
        return UNDEFINED
    if op == "+" and isinstance(a, str) and isinstance(b, str):
        return a + b  # String + String concatenates
    ops = _numeric_operands(a, b)
    if ops is None:
        return UNDEFINED
    x, y = ops
    both_int = isinstance(x, int) and isinstance(y, int)
    try:
        if op == "+":
            return num(x + y)
        if op == "-":
            return num(x - y)
        if op == "*":
            return num(x * y)
        if op == "/":
            if y == 0:
                return UNDEFINED
            return _int_div(x, y) if both_int else num(x / y)
        if op == "%":
            if y == 0:
                return UNDEFINED
            return x - _int_div(x, y) * y if both_int else num(math.fmod(x, y))
    except OverflowError:
        return UNDEFINED
    raise AssertionError(f"unknown arithmetic operator {op}")


def negate(a: Any) -> Any:
    x = to_decimal(a)
    return UNDEFINED if x is UNDEFINED else num(-x)


def _same_kind(a: Any, b: Any) -> bool:
    if is_number(a) and is_number(b):
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    return type(a) is type(b)


def equals(a: Any, b: Any) -> Any:
    """``=``: deep equality of same-typed values; numbers compare by value.

    Iterative, so deeply nested payloads cannot exhaust the stack.
    """
    t = type(a)
    if t is type(b) and t in _SCALARS:  # the common case, decided at once
        return bool(a == b)
    if a is UNDEFINED or b is UNDEFINED:
        return UNDEFINED
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if not _same_kind(x, y):
            return False
        if isinstance(x, list):
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y, strict=True))
        elif isinstance(x, dict):
            if x.keys() != y.keys():
                return False
            stack.extend((x[k], y[k]) for k in x)
        elif x != y:
            return False
    return True


def compare(op: str, a: Any, b: Any) -> Any:
    if op == "=":
        return equals(a, b)
    if op == "<>":
        eq = equals(a, b)
        return UNDEFINED if eq is UNDEFINED else not eq
    # Ordering: "Both operands are converted to a Decimal, and then compared."
    if type(a) in _NUMBERS and type(b) in _NUMBERS:  # numbers already (not bool)
        x, y = a, b
    else:
        ops = (_numeric_operands(a, b)
               if not isinstance(a, bool) and not isinstance(b, bool) else None)
        if ops is None:
            return UNDEFINED
        x, y = ops
    if op == "<":
        return bool(x < y)
    if op == "<=":
        return bool(x <= y)
    if op == ">":
        return bool(x > y)
    if op == ">=":
        return bool(x >= y)
    raise AssertionError(f"unknown comparison {op}")


def contained_in(a: Any, b: Any) -> Any:
    """``a IN b``: true when the array ``b`` holds a value equal to ``a``."""
    if a is UNDEFINED or not isinstance(b, list):
        return UNDEFINED
    return any(equals(a, x) is True for x in b)
