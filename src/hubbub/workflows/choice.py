"""Choice rules: comparison operators, Is* tests, And/Or/Not (ASL spec, "Choice Rules").

A comparison whose operand has the wrong type is simply false (spec: "if the value is
not of the type the operator expects, the comparison is false"). Pure.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from hubbub.workflows.errors import StatesError
from hubbub.workflows.paths import NoMatch

Resolver = Callable[[str], Any]

_TS = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|z|[+-]\d{2}:\d{2})\Z"
)


def parse_timestamp(value: Any) -> datetime | None:
    """RFC 3339 date-time (ASL timestamps), or None when ``value`` is not one."""
    if not isinstance(value, str) or not _TS.match(value):
        return None
    text = value.replace("z", "Z")
    frac = re.search(r"\.(\d+)", text)
    if frac:  # Python takes at most 6 fraction digits; AWS accepts more (nanoseconds).
        text = text.replace(frac.group(0), "." + frac.group(1)[:6].ljust(6, "0"))
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": lambda a, b: a == b,
    "LessThan": lambda a, b: a < b,
    "GreaterThan": lambda a, b: a > b,
    "LessThanEquals": lambda a, b: a <= b,
    "GreaterThanEquals": lambda a, b: a >= b,
}

_KINDS = ("String", "Numeric", "Boolean", "Timestamp")

OPERATORS = {f"{k}{c}" for k in _KINDS for c in _CMP if not (k == "Boolean" and c != "Equals")}
OPERATORS |= {"StringMatches", "IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean",
              "IsTimestamp"}
OPERATORS |= {op + "Path" for op in OPERATORS if op.startswith(_KINDS)} - {"StringMatchesPath"}


def string_matches(value: str, pattern: str) -> bool:
    """``*`` matches any run of characters; ``\\*`` and ``\\\\`` are literal."""
    rx: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            rx.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        rx.append(".*" if c == "*" else re.escape(c))
        i += 1
    return re.fullmatch("".join(rx), value, re.DOTALL) is not None


def _compare(kind: str, cmp: str, a: Any, b: Any) -> bool:
    f = _CMP[cmp]
    if kind == "String":
        return isinstance(a, str) and isinstance(b, str) and f(a, b)
    if kind == "Numeric":
        return _num(a) and _num(b) and f(a, b)
    if kind == "Boolean":
        return isinstance(a, bool) and isinstance(b, bool) and f(a, b)
    ta, tb = parse_timestamp(a), parse_timestamp(b)
    return ta is not None and tb is not None and f(ta, tb)


def operator_of(rule: dict[str, Any]) -> str | None:
    for key in rule:
        if key in OPERATORS:
            return key
    return None


def evaluate(rule: dict[str, Any], resolve: Resolver) -> bool:
    """True when ``rule`` (a Choice rule or nested rule) holds."""
    if "And" in rule:
        return all(evaluate(r, resolve) for r in rule["And"])
    if "Or" in rule:
        return any(evaluate(r, resolve) for r in rule["Or"])
    if "Not" in rule:
        return not evaluate(rule["Not"], resolve)
    op = operator_of(rule)
    if op is None:
        raise StatesError("States.Runtime", f"Choice rule without an operator: {rule}")
    var = rule.get("Variable")
    if not isinstance(var, str):
        raise StatesError("States.Runtime", "Choice rule without a Variable")
    operand = rule[op]
    if op == "IsPresent":
        try:
            resolve(var)
            present = True
        except NoMatch:
            present = False
        return present is bool(operand)
    try:
        value = resolve(var)
    except NoMatch:
        if op.startswith("Is"):
            return False
        raise StatesError(
            "States.Runtime", f"Invalid path '{var}': No results for path: {var}") from None
    if op.startswith("Is"):
        checks: dict[str, bool] = {
            "IsNull": value is None,
            "IsNumeric": _num(value),
            "IsString": isinstance(value, str),
            "IsBoolean": isinstance(value, bool),
            "IsTimestamp": parse_timestamp(value) is not None,
        }
        return checks[op] is bool(operand)
    if op == "StringMatches":
        return isinstance(value, str) and isinstance(operand, str) and string_matches(
            value, operand)
    if op.endswith("Path"):
        op = op[:-4]
        try:
            operand = resolve(operand)
        except NoMatch:
            raise StatesError(
                "States.Runtime", f"Invalid path '{rule[op + 'Path']}': No results for path"
            ) from None
    kind = next(k for k in _KINDS if op.startswith(k))
    return _compare(kind, op[len(kind):], value, operand)
