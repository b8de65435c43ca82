"""The chat's input rules live twice, on purpose: in IoT SQL (the ChatRepublish rule's
WHERE, which must run without a function call) and in Python (functions/validate.py,
which words the error). These tests hold the two to the same answers, and check that
for every message exactly one of ChatRepublish (valid) and ChatToFunction (invalid:
the function sends an error) fires."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.app import load_app
from hubbub.apps.chat.functions import validate
from hubbub.rules import MessageContext, parse_sql

APP = load_app()
REPUBLISH = parse_sql(APP.rules["ChatRepublish"]["sql"])
TO_FUNCTION = parse_sql(APP.rules["ChatToFunction"]["sql"])


def fires(stmt: Any, payload: bytes) -> bool:
    ctx = MessageContext(topic="chat/out", payload=payload, client_id="web-1",
                         timestamp_ms=1_764_000_000_000)
    return stmt.evaluate(ctx) is not None


def python_says_valid(obj: Any) -> bool:
    try:
        validate.message(obj)
    except validate.Invalid:
        return False
    return True


CASES: list[Any] = [
    {"room": "lobby", "message": {"user": "ann", "text": "hi"}},
    {"room": "a.b-c_d", "message": {"user": "Zoë 🎉", "text": "x" * 2000}},
    {"room": "lobby", "message": {"user": "ann", "text": "x" * 2001}},
    {"room": "bad/room", "message": {"user": "ann", "text": "hi"}},
    {"room": "+", "message": {"user": "ann", "text": "hi"}},
    {"room": "", "message": {"user": "ann", "text": "hi"}},
    {"room": "-lead", "message": {"user": "ann", "text": "hi"}},
    {"room": "r" * 65, "message": {"user": "ann", "text": "hi"}},
    {"room": 5, "message": {"user": "ann", "text": "hi"}},
    {"message": {"user": "ann", "text": "hi"}},
    {"room": "lobby", "message": {"user": "ann"}},
    {"room": "lobby", "message": {"text": "hi"}},
    {"room": "lobby", "message": {"user": "", "text": "hi"}},
    {"room": "lobby", "message": {"user": "   ", "text": "hi"}},
    {"room": "lobby", "message": {"user": "a\u0007b", "text": "hi"}},
    {"room": "lobby", "message": {"user": "u" * 33, "text": "hi"}},
    {"room": "lobby", "message": {"user": "ann", "text": "   "}},
    {"room": "lobby", "message": {"user": "ann", "text": 42}},
    {"room": "lobby", "message": "hi"},
    {"room": "lobby", "message": None},
    # A regex `$` also matches before a final newline (in Java as in Python), so the
    # rules must not lean on it: these once passed the SQL and failed the Python check.
    {"room": "lobby", "message": {"user": "0\n", "text": "hi"}},
    {"room": "lobby\n", "message": {"user": "ann", "text": "hi"}},
    {"room": "lobby", "message": {"user": "ann\r\n", "text": "hi"}},
    {"room": "r" * 64, "message": {"user": "u" * 32, "text": "hi"}},
]


@pytest.mark.parametrize("obj", CASES, ids=range(len(CASES)))
def test_sql_and_python_agree_and_exactly_one_rule_fires(obj: Any) -> None:
    payload = json.dumps(obj).encode()
    valid = python_says_valid(obj)
    assert fires(REPUBLISH, payload) is valid
    assert fires(TO_FUNCTION, payload) is (not valid)


def test_non_message_traffic_goes_to_the_function_only() -> None:
    for payload in (b'{"type": "join", "room": "lobby", "user": "ann"}', b"not json", b""):
        assert fires(TO_FUNCTION, payload) and not fires(REPUBLISH, payload)


texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=300, deadline=None)
@given(room=st.one_of(texts, st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,70}\n?", fullmatch=True)),
       user=st.one_of(texts, st.from_regex(r"[^\x00-\x1f\x7f]{1,34}[\n\r]?", fullmatch=True)), text=st.one_of(texts, st.integers()))
def test_random_messages_agree(room: str, user: str, text: Any) -> None:
    obj = {"room": room, "message": {"user": user, "text": text}}
    payload = json.dumps(obj).encode()
    valid = python_says_valid(obj)
    assert fires(REPUBLISH, payload) is valid
    assert fires(TO_FUNCTION, payload) is (not valid)
