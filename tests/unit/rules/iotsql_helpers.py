"""Shared helpers for the IoT SQL unit tests (a uniquely named module, not a conftest)."""

from __future__ import annotations

import json
from typing import Any

from hubbub.rules import MessageContext, parse_sql


def make_ctx(payload: Any = None, *, raw: bytes | None = None, topic: str = "a/b",
             **kw: Any) -> MessageContext:
    data = raw if raw is not None else json.dumps(payload if payload is not None else {}).encode()
    kw.setdefault("timestamp_ms", 1_700_000_000_000)
    kw.setdefault("newuuid", lambda: "00000000-0000-4000-8000-000000000001")
    return MessageContext(topic=topic, payload=data, **kw)


def run(sql: str, payload: Any = None, **kw: Any) -> Any:
    """The SELECT output, or the string 'FILTERED' when WHERE rejects the message."""
    result = parse_sql(sql).evaluate(make_ctx(payload, **kw))
    return "FILTERED" if result is None else result.output


def value(expr: str, payload: Any = None, **kw: Any) -> Any:
    return run(f"SELECT VALUE {expr} FROM 'a/b'", payload, **kw)
