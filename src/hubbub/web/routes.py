"""HTTP routes in API Gateway HTTP API style: ``GET /api/rooms/{room}/messages``.

Matching follows API Gateway's rules ("Working with routes for HTTP APIs"): ``{name}``
matches one path segment, a last ``{name+}`` matches the rest of the path, method ``ANY``
matches every method, and the most specific route wins (a literal segment beats a
variable, a variable beats a greedy variable, a named method beats ``ANY``).
Path parameters are URL-decoded per segment, so ``%2F`` never splits a segment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from hubbub.errors import UsageError
from hubbub.web.types import Handler

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "ANY"})
_VAR = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)(\+?)\}$")


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    route_key: str
    segments: tuple[str, ...]  # literal text, "{name}" or "{name+}"

    def specificity(self) -> tuple[int, ...]:
        # Per segment: 2 literal, 1 variable, 0 greedy; then named method over ANY.
        ranks = tuple(0 if s.endswith("+}") else 1 if s.startswith("{") else 2
                      for s in self.segments)
        return (*ranks, 1 if self.method != "ANY" else 0)


@dataclass(frozen=True, slots=True)
class Match:
    """A route found for a request, with its decoded path parameters."""

    route: Route
    path_params: dict[str, str]


@dataclass(frozen=True, slots=True)
class MethodNotAllowed:
    """The path has routes, none for this method."""

    allowed: tuple[str, ...]


class Router:
    """The HTTP API's routes, matched like API Gateway HTTP API routes."""

    def __init__(self) -> None:
        self._routes: list[Route] = []

    def __len__(self) -> int:
        return len(self._routes)

    def add(self, method: str, path: str, handler: Handler, route_key: str | None = None) -> None:
        """Add a route; ``route_key`` defaults to ``"METHOD /path"`` as API Gateway names it."""
        method = method.upper()
        if method not in METHODS:
            raise UsageError(f"unsupported HTTP method {method!r}")
        if not path.startswith("/"):
            raise UsageError(f"route path must start with '/': {path!r}")
        segments = tuple(path.split("/")[1:])
        names: set[str] = set()
        for i, seg in enumerate(segments):
            if "{" in seg or "}" in seg:
                m = _VAR.match(seg)
                if m is None:
                    raise UsageError(f"bad path variable {seg!r} in {path!r}")
                if m.group(2) and i != len(segments) - 1:
                    raise UsageError(f"greedy variable must be last in {path!r}")
                if m.group(1) in names:
                    raise UsageError(f"duplicate path variable {m.group(1)!r} in {path!r}")
                names.add(m.group(1))
        if any(r.method == method and r.segments == segments for r in self._routes):
            raise UsageError(f"duplicate route {method} {path}")
        route = Route(method, path, handler, route_key or f"{method} {path}", segments)
        self._routes.append(route)
        self._routes.sort(key=Route.specificity, reverse=True)

    def match(self, method: str, raw_path: str) -> Match | MethodNotAllowed | None:
        """The best route for ``method`` and the raw (percent-encoded) path."""
        parts = raw_path.split("/")[1:]
        allowed: list[str] = []
        for route in self._routes:
            params = _match_segments(route.segments, parts)
            if params is None:
                continue
            if route.method in (method, "ANY"):
                return Match(route, params)
            allowed.append(route.method)
        if allowed:
            return MethodNotAllowed(tuple(sorted(set(allowed))))
        return None


def _match_segments(pattern: tuple[str, ...], parts: list[str]) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for i, seg in enumerate(pattern):
        if seg.endswith("+}"):
            rest = parts[i:]
            if not rest or rest == [""]:
                return None  # API Gateway's greedy variable needs at least one segment
            params[seg[1:-2]] = "/".join(unquote(p) for p in rest)
            return params
        if i >= len(parts):
            return None
        if seg.startswith("{"):
            if not parts[i]:
                return None
            params[seg[1:-1]] = unquote(parts[i])
        elif seg != parts[i]:
            return None
    return params if len(parts) == len(pattern) else None
