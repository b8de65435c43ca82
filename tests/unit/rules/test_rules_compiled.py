"""The compiled evaluator agrees with the tree-walking interpreter it replaced.

Random syntax trees (every node type, both CASE forms, subqueries, ``*`` arguments) and
random payloads (JSON objects, non-JSON bytes); the oracle is ``iotsql_reference``.
Values must be equal in type and value; conditions compiled as tests must answer
``to_bool(value) is True``. ``newuuid()``/``rand()`` are left out on purpose: a test may
skip the operand that holds them (documented in ``hubbub.rules.evaluator``).
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from iotsql_helpers import make_ctx
from iotsql_reference import Evaluator as Reference

from hubbub.rules import UNDEFINED, ast, parse_sql
from hubbub.rules.evaluator import Scope, compile_expr, compile_test
from hubbub.rules.values import strip_undefined, to_bool

KEYS = ("a", "b", "room", "message", "n", "l")

scalars = st.one_of(
    st.integers(-5, 5), st.floats(-3, 3, allow_nan=False).map(lambda f: round(f, 1)),
    st.sampled_from(["", " x ", "true", "false", "2", "lobby", "a-b", "\n"]),
    st.booleans(), st.none())
json_values = st.recursive(
    scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)),
    max_leaves=8)
payloads = st.one_of(
    st.dictionaries(st.sampled_from(KEYS), json_values, max_size=5).map(
        lambda d: json.dumps(d).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.sampled_from([b"\x00\xffbinary", b"not json", b""]))

FUNCTIONS_1 = ("isundefined", "isnull", "length", "trim", "lower", "abs", "floor")
FUNCTIONS_2 = ("concat", "regexp_matches", "startswith", "get", "mod", "power")

leaves = st.one_of(
    scalars.map(ast.Literal),
    st.sampled_from(KEYS).map(ast.Ref),
    st.just(ast.Var("v")), st.just(ast.Var("missing")),
    st.just(ast.Call("clientid", ())), st.just(ast.Call("timestamp", ())),
    st.just(ast.Call("encode", (ast.Star(), ast.Literal("base64")))),
    st.just(ast.Call("topic", (ast.Literal(2),))),
)


def _extend(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    ops = st.sampled_from(["and", "or", "in", "=", "<>", "<", "<=", ">", ">=",
                           "+", "-", "*", "/", "%"])
    whens = st.lists(st.tuples(inner, inner), min_size=1, max_size=3).map(tuple)
    select = st.lists(inner, min_size=1, max_size=2).map(
        lambda es: ast.Select(False, tuple(ast.SelectItem(e, None) for e in es)))
    return st.one_of(
        st.builds(ast.Attr, inner, st.sampled_from(KEYS)),
        st.builds(ast.Index, inner, inner),
        st.builds(lambda n, a: ast.Call(n, (a,)), st.sampled_from(FUNCTIONS_1), inner),
        st.builds(lambda n, a, b: ast.Call(n, (a, b)), st.sampled_from(FUNCTIONS_2),
                  inner, inner),
        st.builds(lambda a: ast.Call("length", (a, a)), inner),  # wrong arity: Undefined
        st.builds(ast.Cast, inner, st.sampled_from(["int", "decimal", "string", "boolean"])),
        st.builds(ast.Unary, st.sampled_from(["not", "-", "+"]), inner),
        st.builds(ast.Binary, ops, inner, inner),
        st.builds(ast.Case, st.none() | inner, whens, st.none() | inner),
        st.builds(lambda s, t, d: ast.Case(s, ((ast.Literal(True), t),), d), inner, inner,
                  st.none() | inner),
        st.builds(lambda s, t: ast.Case(s, ((ast.Literal(1), t),), None), inner, inner),
        st.lists(inner, max_size=3).map(lambda xs: ast.ArrayLit(tuple(xs))),
        st.lists(st.tuples(st.sampled_from(KEYS), inner), max_size=2).map(
            lambda ps: ast.ObjectLit(tuple(ps))),
        st.builds(ast.Subquery, select, inner, st.none() | inner),
    )


exprs = st.recursive(leaves, _extend, max_leaves=12)


def _same(a: Any, b: Any) -> bool:
    """Equal in value and in type (True is not 1, 1.5 is not "1.5")."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return bool(a == b) if a is not UNDEFINED else b is UNDEFINED


def _outcome(fn: Any) -> tuple[str, Any]:
    try:
        return "ok", fn()
    except Exception as exc:  # both sides must fail the same way
        return "raised", type(exc)


@settings(max_examples=600, deadline=None)
@given(exprs, payloads, json_values)
def test_compiled_expression_equals_the_interpreter(e: Any, payload: bytes,
                                                    var: Any) -> None:
    ctx = make_ctx(raw=payload, client_id="c1", topic="chat/out/x")
    ref = Reference(ctx, {"v": var})
    sc = Scope(ctx, {"v": var})
    want = _outcome(lambda: ref.eval(e, ref.top))
    got = _outcome(lambda: compile_expr(e)(sc, sc.top))
    assert want[0] == got[0], (e, want, got)
    assert want[0] == "raised" or _same(want[1], got[1]), (e, want, got)
    test = _outcome(lambda: compile_test(e)(sc, sc.top))
    if want[0] == "ok" and test[0] == "ok":
        assert test[1] is (to_bool(want[1]) is True), (e, want, test)


@settings(max_examples=300, deadline=None)
@given(st.lists(exprs, min_size=1, max_size=3), st.none() | exprs, payloads)
def test_compiled_statement_equals_the_interpreter(items: list[Any], where: Any,
                                                   payload: bytes) -> None:
    select = ast.Select(False, tuple(ast.SelectItem(e, f"k{i}") for i, e in enumerate(items)))
    ctx = make_ctx(raw=payload, client_id="c1")
    ref = Reference(ctx)

    def reference() -> Any:
        if not ref.where(where, ref.top):
            return None
        return strip_undefined(ref.select(select, ref.top))

    from hubbub.rules.statement import Statement
    st_ = Statement("(generated)", "a/b", select, where)
    want = _outcome(reference)
    got = _outcome(lambda: st_.evaluate(ctx))
    assert want[0] == got[0], (select, where, want, got)
    if want[0] == "ok":
        out = got[1].output if got[1] is not None else None
        assert _same(want[1], out), (select, where, want, got)


def test_chat_rules_agree_with_the_interpreter() -> None:
    """The shipped chat rules, on valid and invalid messages."""
    path = "src/hubbub/apps/chat/hubbub.json"
    with open(path, encoding="utf-8") as f:
        rules = json.load(f)["rules"]
    messages: list[Any] = [
        {"room": "lobby", "message": {"user": "ann", "text": "hi"}},
        {"room": "lobby", "message": {"user": "ann", "text": "  "}},
        {"room": "-x", "message": {"user": "ann", "text": "hi"}},
        {"room": "lobby", "message": {"user": 5, "text": "hi"}},
        {"room": "lobby\n", "message": {"user": "ann", "text": "hi"}},
        {"connected": True, "path": "/lobby"},
        {"room": "lobby", "message": "text"},
    ]
    for rule in rules.values():
        stmt = parse_sql(rule["sql"])
        for m in messages:
            ctx = make_ctx(m, client_id="c1")
            ref = Reference(ctx)
            passes = ref.where(stmt.where, ref.top)
            result = stmt.evaluate(ctx)
            assert (result is not None) == passes, (rule["sql"], m)


EDGE_PAYLOAD = {"t": "true", "f": "FALSE", "one": 1, "yes": True, "no": False, "z": 0,
                "o": {"t": "true"}, "l": [True, "true"]}


@pytest.mark.parametrize("expr", [
    "CASE t WHEN true THEN 1 ELSE 2 END",  # the string "true" is not the Boolean
    "CASE yes WHEN true THEN 1 ELSE 2 END",
    "CASE one WHEN true THEN 1 ELSE 2 END",  # 1 is not true either
    "CASE yes WHEN 1 THEN 1 ELSE 2 END",
    "CASE (yes AND t) WHEN true THEN 1 ELSE 2 END",
    "CASE (yes AND missing) WHEN true THEN 1 ELSE 2 END",
    "CASE NOT no WHEN true THEN 1 END",
    "CASE WHEN t THEN 1 ELSE 2 END",  # searched CASE converts: "true" is true
    "CASE WHEN one THEN 1 ELSE 2 END",
    "CASE WHEN no AND missing THEN 1 ELSE 2 END",
    "NOT (no AND missing)",  # false AND Undefined is Undefined, so is its NOT
    "NOT (yes OR missing)",
    "no AND missing", "missing AND no", "yes OR missing", "t AND f", "NOT f",
    "(SELECT VALUE t FROM l WHERE t)", "(SELECT t FROM o WHERE t = 'true')",
    "cast(t AS Boolean) AND yes", "isUndefined(missing) AND t = 'true'",
])
def test_edge_cases_equal_the_interpreter(expr: str) -> None:
    stmt = parse_sql(f"SELECT VALUE {expr} FROM 'a/b' WHERE {expr}")
    ctx = make_ctx(EDGE_PAYLOAD)
    ref = Reference(ctx)
    sc = Scope(ctx)
    select = stmt.select.items[0].expr
    assert _same(ref.eval(select, ref.top), compile_expr(select)(sc, sc.top)), expr
    result = stmt.evaluate(ctx)
    assert (result is not None) == ref.where(stmt.where, ref.top), expr


def test_rules_on_one_message_decide_a_shared_condition_once() -> None:
    cond = "cast(room AS String) = room AND length(room) <= 64 AND NOT isUndefined(text)"
    first = parse_sql(f"SELECT room FROM 'chat/out' WHERE {cond}")
    second = parse_sql(f"SELECT VALUE 1 FROM 'chat/out' WHERE isUndefined(room) OR "
                       f"(CASE {cond} WHEN true THEN false ELSE true END)")
    ctx = make_ctx({"room": "lobby", "text": "hi"})
    assert first.evaluate(ctx) is not None
    assert list(ctx.memo.values()) == [True]
    assert second.evaluate(ctx) is None  # true, negated
    # The second rule read the first one's answer: flip it and the second one follows.
    ctx2 = make_ctx({"room": "lobby", "text": "hi"})
    assert first.evaluate(ctx2) is not None
    (key,) = ctx2.memo
    ctx2.memo[key] = False
    assert second.evaluate(ctx2) is not None
    assert make_ctx({}).memo == {}  # per message


@pytest.mark.parametrize("where", [
    "a = 1 AND @v = 1",  # a SET variable: each statement has its own
    "a = 1 AND newuuid() <> ''",  # a new value on every call
    "a = 1 AND rand() < 2",
])
def test_conditions_that_are_not_the_messages_alone_are_not_shared(where: str) -> None:
    stmt = parse_sql(f"SET @v = 1 SELECT VALUE 1 FROM 'a/b' WHERE {where}")
    ctx = make_ctx({"a": 1}, rand=lambda: 0.5)
    assert stmt.evaluate(ctx) is not None
    assert ctx.memo == {}


def test_a_shared_condition_inside_a_subquery_is_about_each_element() -> None:
    stmt = parse_sql("SELECT VALUE (SELECT VALUE n FROM l WHERE n > 1 AND n < 4) FROM 'a/b' "
                     "WHERE n > 1 AND n < 4")
    ctx = make_ctx({"n": 2, "l": [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 5}]})
    result = stmt.evaluate(ctx)
    assert result is not None and result.output == [2, 3]
