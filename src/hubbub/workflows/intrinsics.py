"""ASL intrinsic functions (``States.Format(...)`` and friends): a parser and evaluator.

The argument syntax (ASL spec, "Intrinsic Functions"): string literals in single quotes
with ``\\`` escapes, numbers, ``true``/``false``/``null``, paths (``$.x``, ``$$.x``,
``$var``) and nested calls. Randomness (UUID, MathRandom) comes from an injected
``random.Random`` so the core stays deterministic under test. Pure: no I/O, no clock.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from hubbub.workflows.errors import StatesError


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class PathRef:
    path: str


@dataclass(frozen=True)
class Literal:
    value: Any


def is_intrinsic(text: str) -> bool:
    return text.startswith("States.") and text.rstrip().endswith(")") and "(" in text


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def fail(self, why: str) -> StatesError:
        return StatesError("States.Runtime", f"Invalid intrinsic function {self.s!r}: {why}")

    def ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i].isspace():
            self.i += 1

    def call(self) -> Call:
        self.ws()
        start = self.i
        while self.i < len(self.s) and (self.s[self.i].isalnum() or self.s[self.i] == "."):
            self.i += 1
        name = self.s[start : self.i]
        if not name.startswith("States.") or self.s[self.i : self.i + 1] != "(":
            raise self.fail("expected States.Name(")
        self.i += 1
        args: list[Any] = []
        self.ws()
        if self.s[self.i : self.i + 1] == ")":
            self.i += 1
            return Call(name, tuple(args))
        while True:
            args.append(self.arg())
            self.ws()
            c = self.s[self.i : self.i + 1]
            self.i += 1
            if c == ")":
                return Call(name, tuple(args))
            if c != ",":
                raise self.fail("expected ',' or ')'")

    def arg(self) -> Any:
        self.ws()
        c = self.s[self.i : self.i + 1]
        if c == "'":
            return Literal(self.string())
        if c == "$":
            start = self.i
            depth, quote = 0, ""
            while self.i < len(self.s):
                ch = self.s[self.i]
                if quote:
                    if ch == quote:
                        quote = ""
                elif ch in "'\"" and depth:
                    quote = ch
                elif ch == "[" or ch == "(":
                    depth += 1
                elif ch == "]" or ch == ")":
                    if depth == 0:
                        break
                    depth -= 1
                elif ch == "," and depth == 0:
                    break
                self.i += 1
            return PathRef(self.s[start : self.i].strip())
        if self.s.startswith("States.", self.i):
            return self.call()
        start = self.i
        while self.i < len(self.s) and self.s[self.i] not in ",)":
            self.i += 1
        token = self.s[start : self.i].strip()
        try:
            return Literal(json.loads(token))
        except json.JSONDecodeError:
            raise self.fail(f"bad argument {token!r}") from None

    def string(self) -> str:
        self.i += 1
        out: list[str] = []
        while self.i < len(self.s):
            ch = self.s[self.i]
            if ch == "\\" and self.i + 1 < len(self.s):
                nxt = self.s[self.i + 1]
                if nxt not in "'{}\\":
                    # The spec allows only \\' \\{ \\} \\\\ inside intrinsic strings.
                    raise self.fail(f"illegal escape \\{nxt}")
                # Keep the backslash before { } so Format can tell escaped braces apart.
                out.append("\\" + nxt if nxt in "{}" else nxt)
                self.i += 2
                continue
            if ch == "'":
                self.i += 1
                return "".join(out)
            out.append(ch)
            self.i += 1
        raise self.fail("unterminated string")


@lru_cache(maxsize=4096)
def parse(text: str) -> Call:
    """Parse once per distinct text (a state runs the same call many times)."""
    p = _Parser(text)
    c = p.call()
    p.ws()
    if p.i != len(p.s):
        raise p.fail("trailing text")
    return c


Resolver = Callable[[str], Any]


def evaluate(text: str, resolve: Resolver, rng: random.Random) -> Any:
    """Evaluate an intrinsic call; ``resolve`` reads a path (``$.x``, ``$$.x``, ``$var``)."""
    return _eval(parse(text), resolve, rng)


def _eval(node: Any, resolve: Resolver, rng: random.Random) -> Any:
    if isinstance(node, Literal):
        v = node.value
        return v.replace("\\{", "{").replace("\\}", "}") if isinstance(v, str) else v
    if isinstance(node, PathRef):
        return resolve(node.path)
    fn = _FUNCS.get(node.name)
    if fn is None:
        raise StatesError("States.Runtime", f"Unsupported intrinsic function {node.name}")
    if node.name == "States.Format":
        if not node.args:
            raise StatesError("States.Runtime", "States.Format needs a template")
        first = node.args[0]
        # A literal template keeps its escapes (\\{ is a literal brace); a template read
        # from a path or variable is taken as is.
        tmpl = first.value if isinstance(first, Literal) else _eval(first, resolve, rng)
        rest = [_eval(a, resolve, rng) for a in node.args[1:]]
        return _format(tmpl, rest)
    args = [_eval(a, resolve, rng) for a in node.args]
    try:
        return fn(args, rng)
    except StatesError:
        raise
    except (TypeError, ValueError, IndexError, KeyError, AttributeError) as exc:
        raise StatesError("States.Runtime", f"{node.name} failed: {exc}") from exc


def _format(tmpl: Any, args: list[Any]) -> str:
    if not isinstance(tmpl, str):
        raise StatesError("States.Runtime", "States.Format needs a string template")
    out: list[str] = []
    i = k = 0
    while i < len(tmpl):
        if tmpl.startswith("\\{", i) or tmpl.startswith("\\}", i):
            out.append(tmpl[i + 1])
            i += 2
        elif tmpl.startswith("{}", i):
            if k >= len(args):
                raise StatesError("States.Runtime", "States.Format: too few arguments")
            a = args[k]
            out.append(_java_text(a))
            k += 1
            i += 2
        else:
            out.append(tmpl[i])
            i += 1
    if k != len(args):
        raise StatesError("States.Runtime", "States.Format: argument count mismatch")
    return "".join(out)


def _java_text(v: Any) -> str:
    """How AWS prints a non-string argument into States.Format: Java's toString of the
    decoded JSON ({k=v, ...}, [a, b]), not JSON text (conformance: test_format_2)."""
    if isinstance(v, str):
        return v
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={_java_text(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_java_text(x) for x in v) + "]"
    return _json(v)


def _json(v: Any) -> str:
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def _need(cond: bool, msg: str) -> None:
    if not cond:
        raise StatesError("States.Runtime", msg)


def _int(v: Any) -> int:
    _need(isinstance(v, (int, float)) and not isinstance(v, bool) and float(v).is_integer(),
          f"expected an integer, got {_json(v)}")
    return int(v)


def _partition(a: list[Any], r: random.Random) -> Any:
    arr, size = a
    _need(isinstance(arr, list), "States.ArrayPartition: first argument must be an array")
    n = _int(size)
    _need(n > 0, "States.ArrayPartition: chunk size must be positive")
    return [arr[i : i + n] for i in range(0, len(arr), n)]


def _range(a: list[Any], r: random.Random) -> Any:
    start, end, step = (_int(x) for x in a)
    _need(step != 0, "States.ArrayRange: step must not be 0")
    out = list(range(start, end + (1 if step > 0 else -1), step))
    _need(len(out) <= 1000, "States.ArrayRange: at most 1000 items")
    return out


def _unique(a: list[Any], r: random.Random) -> Any:
    out: list[Any] = []
    for v in a[0]:
        if not any(_same(v, u) for u in out):
            out.append(v)
    return out


def _same(x: Any, y: Any) -> bool:
    return type(x) is type(y) and x == y or (
        isinstance(x, (int, float)) and isinstance(y, (int, float))
        and not isinstance(x, bool) and not isinstance(y, bool) and x == y)


def _hash(a: list[Any], r: random.Random) -> Any:
    data, algo = a
    algos = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384",
             "SHA-512": "sha512"}
    _need(algo in algos, f"States.Hash: unsupported algorithm {algo!r}")
    text = data if isinstance(data, str) else _json(data)
    return hashlib.new(algos[algo], text.encode()).hexdigest()


def _split(a: list[Any], r: random.Random) -> Any:
    s, delims = a
    _need(isinstance(s, str) and isinstance(delims, str), "States.StringSplit needs strings")
    parts = [s]
    for d in delims:
        parts = [p for q in parts for p in q.split(d)]
    return [p for p in parts if p]


def _merge(a: list[Any], r: random.Random) -> Any:
    x, y, deep = a
    _need(isinstance(x, dict) and isinstance(y, dict), "States.JsonMerge needs two objects")
    _need(deep is False, "States.JsonMerge: deep merge is not supported")
    return {**x, **y}


def _random(a: list[Any], r: random.Random) -> Any:
    # AWS truncates non-integer bounds (recorded: MathRandom(12.5, 44.51) succeeds).
    for v in a:
        _need(_is_num(v), f"States.MathRandom: expected numbers, got {_json(v)}")
    lo, hi = int(a[0]), int(a[1])
    rr = random.Random(int(a[2])) if len(a) > 2 else r
    return rr.randrange(lo, hi) if hi > lo else lo


def _get_item(a: list[Any], r: random.Random) -> Any:
    arr, idx = a[0], _int(a[1])
    _need(isinstance(arr, list), "States.ArrayGetItem: first argument must be an array")
    _need(0 <= idx < len(arr), "States.ArrayGetItem: index out of range")
    return arr[idx]


def _math_add(a: list[Any], r: random.Random) -> Any:
    # AWS rounds each operand half-up first (Java's Math.round: floor(x + 0.5)).
    def rounded(v: Any) -> int:
        _need(_is_num(v), f"States.MathAdd: expected a number, got {_json(v)}")
        return int(math.floor(v + 0.5))

    return rounded(a[0]) + rounded(a[1])


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _b64decode(a: list[Any], r: random.Random) -> Any:
    return base64.b64decode(a[0].encode(), validate=True).decode()


_FUNCS: dict[str, Callable[[list[Any], random.Random], Any]] = {
    "States.Format": lambda a, r: None,  # handled in _eval (needs the raw template)
    "States.StringToJson": lambda a, r: json.loads(a[0]) if a[0] and a[0].strip() else None,
    "States.JsonToString": lambda a, r: _json(a[0]),
    "States.Array": lambda a, r: list(a),
    "States.ArrayPartition": _partition,
    "States.ArrayContains": lambda a, r: any(_same(a[1], v) for v in a[0]),
    "States.ArrayRange": _range,
    "States.ArrayGetItem": _get_item,
    "States.ArrayLength": lambda a, r: len(a[0]),
    "States.ArrayUnique": _unique,
    "States.MathAdd": _math_add,
    "States.MathRandom": _random,
    "States.StringSplit": _split,
    "States.UUID": lambda a, r: str(uuid.UUID(int=r.getrandbits(128), version=4)),
    "States.Hash": _hash,
    "States.JsonMerge": _merge,
    "States.Base64Encode": lambda a, r: base64.b64encode(a[0].encode()).decode(),
    "States.Base64Decode": _b64decode,
}
