"""String, hashing and encoding functions. Non-String arguments are converted with the
"To String" rules first (``length(false)`` is 5, ``upper(["a"])`` is ``'["A"]'``)."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
from collections.abc import Callable
from typing import Any

from hubbub.rules.functions.md2 import md2_hex
from hubbub.rules.functions.registry import register
from hubbub.rules.values import UNDEFINED, loads, to_int, to_string


def _strings(fn: Callable[..., Any]) -> Callable[..., Any]:
    def impl(*args: Any) -> Any:
        if len(args) == 1:  # most string functions: no list, no any()
            x = to_string(args[0])
            return UNDEFINED if x is UNDEFINED else fn(x)
        xs = [to_string(a) for a in args]
        if any(x is UNDEFINED for x in xs):
            return UNDEFINED
        return fn(*xs)
    return impl


register("lower", 1)(_strings(str.lower))
register("upper", 1)(_strings(str.upper))
register("trim", 1)(_strings(str.strip))
register("ltrim", 1)(_strings(str.lstrip))
register("rtrim", 1)(_strings(str.rstrip))
register("length", 1)(_strings(len))
register("numbytes", 1)(_strings(lambda s: len(s.encode("utf-8"))))
register("startswith", 2)(_strings(str.startswith))
register("endswith", 2)(_strings(str.endswith))
register("indexof", 2)(_strings(str.find))
register("replace", 3)(_strings(str.replace))

for _algo in ("md5", "sha1", "sha224", "sha256", "sha384", "sha512"):
    register(_algo, 1)(_strings(lambda s, _a=_algo: hashlib.new(_a, s.encode()).hexdigest()))
register("md2", 1)(_strings(lambda s: md2_hex(s.encode())))


# java.util.regex without flags: its line terminators (Pattern's "Line terminators").
_JAVA_EOL = "\n\r\u0085\u2028\u2029"
_JAVA_DOLLAR = "(?=(?:\r\n|[" + _JAVA_EOL + "])?\\Z)"
_JAVA_DOT = "[^" + _JAVA_EOL + "]"


def _java_to_python(pattern: str) -> str:
    """Where the two dialects share syntax but not meaning, spell Java's meaning out:
    ``$`` is end of input or before a final line terminator of any kind (Python's only
    knows ``\\n``), ``.`` matches no line terminator (Python's matches all but ``\\n``).
    Escapes and character classes are copied as they are."""
    out: list[str] = []
    i, depth = 0, 0  # depth: inside [...] (Java nests classes)
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if c == "[":
            depth += 1
        elif c == "]" and depth:
            depth -= 1
        elif depth == 0 and c == "$":
            c = _JAVA_DOLLAR
        elif depth == 0 and c == ".":
            c = _JAVA_DOT
        out.append(c)
        i += 1
    return "".join(out)


@functools.lru_cache(maxsize=256)  # a rule's pattern is a literal: compiled once
def _java_regex(pattern: str) -> re.Pattern[str]:
    # Java and Python agree on the common syntax; possessive quantifiers and \p{..}
    # classes are the notable gaps, and they fail to compile -> Undefined.
    return re.compile(_java_to_python(pattern))


@register("regexp_matches", 2)
@_strings
def _regexp_matches(s: str, pattern: str) -> bool:
    return _java_regex(pattern).search(s) is not None  # "contains a match"


_JAVA_GROUP = re.compile(r"\\(.)|\$(\d+|\{\w+\})")


def _java_replacement(rep: str) -> Callable[[re.Match[str]], str]:
    # Java's replacement syntax: $n / ${name} refer to groups, backslash escapes.
    def expand(m: re.Match[str]) -> str:
        def one(g: re.Match[str]) -> str:
            if g.group(1) is not None:
                return g.group(1)
            ref = g.group(2).strip("{}")
            val = m.group(int(ref) if ref.isdigit() else ref)
            return val or ""
        return _JAVA_GROUP.sub(one, rep)
    return expand


@register("regexp_replace", 3)
@_strings
def _regexp_replace(s: str, pattern: str, rep: str) -> str:
    return _java_regex(pattern).sub(_java_replacement(rep), s)


@register("regexp_substr", 2)
@_strings
def _regexp_substr(s: str, pattern: str) -> str:
    m = _java_regex(pattern).search(s)
    return m.group(0) if m else ""


def _pad(left: bool) -> Callable[[Any, Any], Any]:
    def impl(s: Any, n: Any) -> Any:
        text, count = to_string(s), to_int(n)
        if text is UNDEFINED or count is UNDEFINED or count < 0:
            return UNDEFINED
        return " " * count + text if left else text + " " * count
    return impl


register("lpad", 2)(_pad(True))
register("rpad", 2)(_pad(False))


@register("substring", 2, 3)
def _substring(s: Any, start: Any, end: Any = None) -> Any:
    # Indexes are 0-based, truncated to Int and clamped to the string; end < start is "".
    text, b = to_string(s), to_int(start)
    e = len(text) if end is None else to_int(end) if text is not UNDEFINED else UNDEFINED
    if text is UNDEFINED or b is UNDEFINED or e is UNDEFINED:
        return UNDEFINED
    b, e = max(0, min(b, len(text))), max(0, min(e, len(text)))
    return text[b:e] if e >= b else ""


@register("chr", 1)
def _chr(n: Any) -> Any:
    code = to_int(n)
    return UNDEFINED if code is UNDEFINED else chr(code)


@register("concat", 1, 2**31)
def _concat(*args: Any) -> Any:
    # With any Array argument the result is an Array (other arguments become elements);
    # otherwise the String forms are joined.
    if any(a is UNDEFINED for a in args):
        return UNDEFINED
    if any(isinstance(a, list) for a in args):
        out: list[Any] = []
        for a in args:
            out.extend(a if isinstance(a, list) else [a])
        return out
    parts = [to_string(a) for a in args]
    return UNDEFINED if UNDEFINED in parts else "".join(parts)


@register("encode", 2, binary=True)
def _encode(value: Any, scheme: Any) -> Any:
    if not isinstance(scheme, str) or scheme.lower() != "base64":
        return UNDEFINED
    if isinstance(value, bytes):  # ``*``: the raw payload, as received
        raw = value
    else:
        text = to_string(value)
        if text is UNDEFINED:
            return UNDEFINED
        raw = text.encode("utf-8")
    return base64.b64encode(raw).decode("ascii")


@register("decode", 2)
def _decode(value: Any, scheme: Any) -> Any:
    if not isinstance(value, str) or not isinstance(scheme, str) or scheme.lower() != "base64":
        return UNDEFINED
    try:
        raw = base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError):
        return UNDEFINED
    doc = loads(raw)  # a decoded JSON document is returned as its value
    if doc is not UNDEFINED:
        return doc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return UNDEFINED
