"""Router: API Gateway HTTP API route matching."""

from __future__ import annotations

import pytest

from hubbub.errors import UsageError
from hubbub.web.routes import Match, MethodNotAllowed, Router
from hubbub.web.types import HttpApiEvent


async def _h(event: HttpApiEvent) -> object:
    return None


async def _other(event: HttpApiEvent) -> object:
    return 1


def test_variables_are_decoded_per_segment() -> None:
    r = Router()
    r.add("GET", "/api/rooms/{room}/messages", _h)
    m = r.match("GET", "/api/rooms/caf%C3%A9%2Fx/messages")
    assert isinstance(m, Match)
    assert m.path_params == {"room": "café/x"}
    assert m.route.route_key == "GET /api/rooms/{room}/messages"


def test_no_route_and_method_not_allowed() -> None:
    r = Router()
    r.add("GET", "/api/a", _h)
    r.add("DELETE", "/api/a", _h)
    assert r.match("GET", "/api/b") is None
    assert r.match("GET", "/api/a/") is None
    assert r.match("POST", "/api/a") == MethodNotAllowed(("DELETE", "GET"))


def test_literal_beats_variable_beats_greedy_and_method_beats_any() -> None:
    r = Router()
    r.add("ANY", "/api/{proxy+}", _h, route_key="greedy")
    r.add("GET", "/api/rooms/{room}", _h, route_key="var")
    r.add("GET", "/api/rooms/special", _h, route_key="lit")
    r.add("ANY", "/api/rooms/special", _other, route_key="any-lit")
    def key(method: str, path: str) -> str:
        m = r.match(method, path)
        assert isinstance(m, Match)
        return m.route.route_key
    assert key("GET", "/api/rooms/special") == "lit"
    assert key("POST", "/api/rooms/special") == "any-lit"
    assert key("GET", "/api/rooms/x") == "var"
    assert key("PUT", "/api/rooms/x") == "greedy"
    m = r.match("GET", "/api/a/b%20c/d")
    assert isinstance(m, Match) and m.path_params == {"proxy": "a/b c/d"}


def test_empty_variable_segment_does_not_match() -> None:
    r = Router()
    r.add("GET", "/api/rooms/{room}", _h)
    r.add("GET", "/api/{p+}", _h)
    assert r.match("GET", "/api/rooms/") is not None  # greedy catches it
    r2 = Router()
    r2.add("GET", "/api/rooms/{room}", _h)
    assert r2.match("GET", "/api/rooms/") is None


@pytest.mark.parametrize(("method", "path"), [
    ("FETCH", "/x"), ("GET", "x"), ("GET", "/{a+}/b"), ("GET", "/{a}/{a}"), ("GET", "/{a b}"),
    ("GET", "/x{a}"),
])
def test_bad_routes_are_usage_errors(method: str, path: str) -> None:
    with pytest.raises(UsageError):
        Router().add(method, path, _h)


def test_duplicate_route_refused() -> None:
    r = Router()
    r.add("get", "/x", _h)
    with pytest.raises(UsageError):
        r.add("GET", "/x", _h)
    assert len(r) == 1
