"""JSONPath for ASL: reading paths (InputPath, ``.$`` fields) and writing ResultPath.

Why a small evaluator of our own instead of jsonpath-ng for everything: ASL *reference
paths* (ResultPath, Choice ``Variable``) must address exactly one node and ResultPath must
*create* missing fields, which jsonpath-ng's ``update`` does not do; measured, jsonpath-ng
also costs ~1 ms to parse a path with its PLY grammar, while this evaluator covers every
path in the conformance corpus except filter expressions (``[?(...)]``) in microseconds.
Filters and anything else this parser does not take fall back to ``jsonpath_ng.ext``.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from hubbub.workflows.errors import StatesError

_MISSING = object()


class NoMatch(Exception):
    """The path selects nothing in the document."""


@dataclass(frozen=True)
class _Seg:
    kind: str  # "key", "index", "wild", "slice", "desc", "union"
    value: Any = None


_NAME = re.compile(r"[^.\[\]'\"\s]+")


def _parse(path: str) -> list[_Seg] | None:
    """Parse a path after its leading ``$``; None when it needs the general engine."""
    segs: list[_Seg] = []
    i, n = 1, len(path)
    while i < n:
        c = path[i]
        if path.startswith("..", i):
            m = _NAME.match(path, i + 2)
            if not m:
                return None
            segs.append(_Seg("desc", m.group(0)))
            i = m.end()
        elif c == ".":
            if path.startswith(".*", i):
                segs.append(_Seg("wild"))
                i += 2
                continue
            m = _NAME.match(path, i + 1)
            if not m:
                return None
            segs.append(_Seg("key", m.group(0)))
            i = m.end()
        elif c == "[":
            end = path.find("]", i)
            if end < 0:
                return None
            body = path[i + 1 : end].strip()
            if body[:1] in "'\"":
                q = body[0]
                if not body.endswith(q) or len(body) < 2:
                    return None
                segs.append(_Seg("key", body[1:-1]))
            elif body == "*":
                segs.append(_Seg("wild"))
            elif re.fullmatch(r"-?\d+", body):
                segs.append(_Seg("index", int(body)))
            elif re.fullmatch(r"-?\d*:-?\d*(:-?\d+)?", body):
                parts = [int(p) if p else None for p in body.split(":")]
                segs.append(_Seg("slice", tuple(parts)))
            elif re.fullmatch(r"-?\d+(\s*,\s*-?\d+)+", body):
                segs.append(_Seg("union", tuple(int(p) for p in body.split(","))))
            else:
                return None
            i = end + 1
        else:
            return None
    return segs


@lru_cache(maxsize=4096)
def _compiled(path: str) -> tuple[bool, Any]:
    segs = _parse(path)
    if segs is not None:
        return True, tuple(segs)
    from jsonpath_ng.ext.parser import parse as ext_parse  # only for filters and the like

    try:
        return False, ext_parse(path)
    except Exception as exc:  # jsonpath-ng raises bare Exception subclasses
        raise StatesError("States.Runtime", f"Invalid path {path!r}: {exc}") from exc


def is_definite(path: str) -> bool:
    """A path that can address at most one node (no wildcard, slice, filter, descent)."""
    native, segs = _compiled(path)
    return native and all(s.kind in ("key", "index") for s in segs)


def _step(values: list[Any], seg: _Seg) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if seg.kind == "key":
            if isinstance(v, dict) and seg.value in v:
                out.append(v[seg.value])
        elif seg.kind == "index":
            if isinstance(v, list) and -len(v) <= seg.value < len(v):
                out.append(v[seg.value])
        elif seg.kind == "wild":
            if isinstance(v, dict):
                out.extend(v.values())
            elif isinstance(v, list):
                out.extend(v)
        elif seg.kind == "slice":
            if isinstance(v, list):
                out.extend(v[slice(*seg.value)])
        elif seg.kind == "union":
            if isinstance(v, list):
                out.extend(v[k] for k in seg.value if -len(v) <= k < len(v))
        elif seg.kind == "desc":
            out.extend(_descend(v, seg.value))
    return out


def _descend(v: Any, name: str) -> list[Any]:
    found: list[Any] = []
    if isinstance(v, dict):
        if name in v:
            found.append(v[name])
        for child in v.values():
            found.extend(_descend(child, name))
    elif isinstance(v, list):
        for child in v:
            found.extend(_descend(child, name))
    return found


def select(doc: Any, path: str) -> Any:
    """Evaluate ``path`` on ``doc``: the node for a definite path, else the list of matches.

    Raises NoMatch when a definite path selects nothing.
    """
    native, compiled = _compiled(path)
    if native:
        values = [doc]
        for seg in compiled:
            values = _step(values, seg)
        if all(s.kind in ("key", "index") for s in compiled):
            if not values:
                raise NoMatch(path)
            return values[0]
        return values
    matches = [m.value for m in compiled.find(doc)]
    return matches


def exists(doc: Any, path: str) -> bool:
    try:
        value = select(doc, path)
    except NoMatch:
        return False
    return not (isinstance(value, list) and not is_definite(path) and not value)


def missing_message(doc: Any, path: str) -> str:
    """AWS's wording for a definite path that selects nothing: 'No results for path' when
    only the last step is missing, 'Missing property in path' (up to the first missing
    field) when an intermediate one is (conformance: test_catch_states_runtime)."""
    native, segs = _compiled(path)
    if not native:
        return f"No results for path: {path}"
    node = doc
    for i, seg in enumerate(segs):
        found = _step([node], seg)
        if not found:
            if i == len(segs) - 1:
                return f"No results for path: {bracket_path(path)}"
            return f"Missing property in path {_brackets(segs[: i + 1])}"
        node = found[0]
    return f"No results for path: {bracket_path(path)}"


def _brackets(segs: Any) -> str:
    out = "$"
    for s in segs:
        out += f"['{s.value}']" if s.kind == "key" else f"[{s.value}]"
    return out


def bracket_path(path: str) -> str:
    """AWS's normalised spelling used in error causes: ``$.a.b`` -> ``$['a']['b']``."""
    native, segs = _compiled(path)
    return _brackets(segs) if native else path


def put(doc: Any, path: str, value: Any) -> Any:
    """ResultPath semantics: a copy of ``doc`` with ``value`` at ``path``, creating fields."""
    if path == "$":
        return value
    native, segs = _compiled(path)
    if not native or not all(s.kind in ("key", "index") for s in segs):
        raise StatesError("States.Runtime", f"Invalid ResultPath {path!r}: not a reference path")
    root = _copy(doc)
    if not isinstance(root, (dict, list)):
        root = {}
    node = root
    for i, seg in enumerate(segs):
        last = i == len(segs) - 1
        if seg.kind == "key":
            if not isinstance(node, dict):
                raise StatesError(
                    "States.Runtime",
                    f"Invalid path {path!r}: cannot set field {seg.value!r} on {json.dumps(node)}",
                )
            if last:
                node[seg.value] = value
            else:
                child = node.get(seg.value, _MISSING)
                child = {} if not isinstance(child, (dict, list)) else _copy(child)
                node[seg.value] = child
                node = child
        else:
            if not isinstance(node, list) or not -len(node) <= seg.value < len(node):
                raise StatesError("States.Runtime", f"Invalid path {path!r}: index out of range")
            if last:
                node[seg.value] = value
            else:
                node[seg.value] = _copy(node[seg.value])
                node = node[seg.value]
    return root


def _copy(v: Any) -> Any:
    # Shallow copy of one level: put() copies each container on the way down, so the
    # caller's document is never mutated (state passes between tasks as immutable data).
    if isinstance(v, dict):
        return dict(v)
    if isinstance(v, list):
        return list(v)
    return v
