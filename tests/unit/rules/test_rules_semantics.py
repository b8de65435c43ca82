"""Undefined versus Null, operators and clauses, as the IoT SQL reference states them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from iotsql_helpers import make_ctx, run, value

from hubbub.rules import UNDEFINED, parse_sql


def test_missing_attribute_drops_the_key_null_keeps_it() -> None:
    assert run("SELECT a, b, c FROM 'a/b'", {"a": 1, "b": None}) == {"a": 1, "b": None}


def test_undefined_flows_through_operators_and_drops_the_key() -> None:
    out = run("SELECT x + 1 AS p, -x AS n, x = 1 AS e, x > 1 AS g, NOT x AS t, "
              "x AND true AS a, upper(x) AS u, [x] AS arr FROM 'a/b'", {})
    assert out == {"arr": []}  # Undefined array members vanish when serialized


def test_where_undefined_is_false() -> None:
    assert run("SELECT * FROM 'a/b' WHERE missing > 1", {"a": 1}) == "FILTERED"
    assert run("SELECT * FROM 'a/b' WHERE NOT missing", {"a": 1}) == "FILTERED"
    assert run("SELECT * FROM 'a/b' WHERE isUndefined(missing)", {"a": 1}) == {"a": 1}


def test_null_is_a_value() -> None:
    assert value("isNull(a)", {"a": None}) is True
    assert value("isUndefined(a)", {"a": None}) is False
    assert value("a = null", {"a": None}) is True
    assert value("isNull(a)", {}) is False


def test_select_value_undefined_serializes_to_empty() -> None:
    result = parse_sql("SELECT VALUE nope FROM 'a/b'").evaluate(make_ctx({}))
    assert result is not None and result.output is UNDEFINED and result.payload() == b""


@pytest.mark.parametrize(("expr", "expected"), [
    ("7 / 2", 3), ("-7 / 2", -3), ("7 % 3", 1), ("-7 % 3", -1), ("7.0 / 2", 3), ("7.5 / 2", 3.75),
    ("1.5 + 1.5", 3), ("2 * 2.5", 5), ("1 / 0", UNDEFINED), ("1 % 0", UNDEFINED),
    ("'a' + 'b'", "ab"), ("'2' + 3", 5), ("'2.5' * 2", 5), ("'x' + 1", UNDEFINED),
    ("true + 1", UNDEFINED), ("- '3'", -3), ("(1 + 2) * 3", 9), ("1 + 2 * 3", 7),
])
def test_arithmetic(expr: str, expected: Any) -> None:
    got = value(expr)
    if expected is UNDEFINED:
        assert got is UNDEFINED
    else:
        assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(("expr", "expected"), [
    ("1 = 1.0", True), ("'a' = 'a'", True), ("'1' = 1", False), ("1 <> 2", True),
    ("1 != 1", False), ("[1, {'a': 2}] = [1, {'a': 2}]", True), ("{'a': 1} = {'a': 2}", False),
    ("'10' > 9", True), ("'abc' > 1", UNDEFINED), ("2 >= 2", True), ("1 < 0.5", False),
    ("true AND 'TRUE'", True), ("false OR 'false'", False), ("1 AND true", UNDEFINED),
    ("NOT 'false'", True), ("2 IN [1, 2]", True), ("3 IN [1, 2]", False),
    ("2 IN 2", UNDEFINED), ("true = 1", False),
])
def test_comparison_and_logic(expr: str, expected: Any) -> None:
    got = value(expr)
    if isinstance(expected, bool) or expected is UNDEFINED:
        assert got is expected
    else:
        assert got == expected


def test_nested_attributes_and_indexes() -> None:
    doc = {"a": {"b": {"c": [10, {"d": "x"}]}}}
    assert value("a.b.c[1].d", doc) == "x"
    assert value("a.b.c[0]", doc) == 10
    assert value("a.b.c[5]", doc) is UNDEFINED
    assert value("a.b.c[-1]", doc) is UNDEFINED
    assert value("a.x.c", doc) is UNDEFINED
    assert value("a.b['c'][0]", doc) == 10


def test_star_merges_with_items_and_later_keys_win() -> None:
    assert run("SELECT *, 2 AS a FROM 'a/b'", {"a": 1, "b": 2}) == {"a": 2, "b": 2}


def test_unaliased_items_are_named_after_the_attribute_or_function() -> None:
    assert run("SELECT a.b, upper(c), 5 FROM 'a/b'", {"a": {"b": 1}, "c": "x"}) == {
        "b": 1, "upper": "X", "_3": 5}


def test_case_forms() -> None:
    assert value("CASE a WHEN 1 THEN 'one' WHEN 2 THEN 'two' END", {"a": 2}) == "two"
    assert value("CASE a WHEN 1 THEN 'one' END", {"a": 3}) is UNDEFINED
    assert value("CASE WHEN a > 5 THEN 'big' ELSE 'small' END", {"a": 3}) == "small"
    assert value("CASE WHEN a > 5 THEN 'big' ELSE 'small' END", {}) == "small"


def test_set_variables_are_visible_in_select_where_and_later_sets() -> None:
    sql = "SET @a = x * 2, @b = @a + 1 SELECT @b AS b FROM 'a/b' WHERE @a > 2"
    assert run(sql, {"x": 2}) == {"b": 5}
    assert run(sql, {"x": 1}) == "FILTERED"


def test_nested_object_queries() -> None:
    doc = {"e": [{"n": "t", "v": 1}, {"n": "h", "v": 2}], "o": {"k": 1}}
    assert value("(SELECT VALUE v FROM e WHERE n = 'h')", doc) == [2]
    assert value("(SELECT k FROM o)", doc) == {"k": 1}
    assert value("(SELECT k FROM o WHERE k = 2)", doc) is UNDEFINED
    assert value("(SELECT k FROM missing)", doc) is UNDEFINED


def test_binary_payload_passes_through_select_star() -> None:
    raw = b"\x00\xffbinary"
    result = parse_sql("SELECT * FROM 'a/b'").evaluate(make_ctx(raw=raw))
    assert result is not None and result.is_binary and result.payload() == raw


def test_binary_payload_attributes_are_undefined() -> None:
    raw = b"\x00\xff"
    assert run("SELECT a, encode(*, 'base64') AS b FROM 'a/b'", raw=raw) == {"b": "AP8="}
    assert run("SELECT * FROM 'a/b' WHERE a = 1", raw=raw) == "FILTERED"


def test_scalar_json_payload() -> None:
    assert run("SELECT VALUE * FROM 'a/b'", raw=b"42") == 42
    assert run("SELECT * FROM 'a/b'", raw=b"[1, 2]") == [1, 2]
    assert run("SELECT *, 1 AS one FROM 'a/b'", raw=b"42") == {"one": 1}


def test_whole_number_decimals_in_payload_are_ints() -> None:
    assert run("SELECT a FROM 'a/b'", raw=b'{"a": 10.0}') == {"a": 10}
    assert isinstance(value("a", raw=b'{"a": 10.0}'), int)


def test_deeply_nested_payloads_never_crash() -> None:
    for depth in (10, 500, 990, 5000):
        raw = ('{"a":' * depth + "1" + "}" * depth).encode()
        for sql in ("SELECT * FROM 'a/b'", "SELECT VALUE a = a FROM 'a/b'",
                    "SELECT upper(a), a FROM 'a/b' WHERE NOT isUndefined(a)"):
            result = parse_sql(sql).evaluate(make_ctx(raw=raw))
            assert result is None or isinstance(result.payload(), bytes)


def test_non_finite_numbers_make_the_payload_non_json() -> None:
    for raw in (b'{"a": 1e999}', b'{"a": NaN}', b'{"a": -Infinity}'):
        assert run("SELECT a FROM 'a/b'", raw=raw) == {}


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_any_payload_bytes_never_crash(raw: bytes) -> None:
    for sql in ("SELECT * FROM 'a/b'", "SELECT a.b, upper(c), d + 1 AS e FROM 'a/b' WHERE a <> 1",
                "SELECT VALUE decode(encode(*, 'base64'), 'base64') FROM 'a/b'"):
        result = parse_sql(sql).evaluate(make_ctx(raw=raw))
        if result is not None:
            assert isinstance(result.payload(), bytes)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                 max_size=3),
    max_leaves=10)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), json_values))
def test_any_json_payload_never_crashes(doc: dict[str, Any]) -> None:
    sql = ("SELECT a + b AS s, a / b AS q, concat(a, b) AS c, substring(a, b) AS t, "
           "get(a, b) AS g, lower(c), round(a), a > b AS gt, a IN b AS i, cast(a AS Int) AS ci "
           "FROM 'a/b' WHERE a = a OR true")
    result = parse_sql(sql).evaluate(make_ctx(raw=json.dumps(doc).encode()))
    if result is not None:  # Undefined OR true is Undefined: filtered
        assert isinstance(json.loads(result.payload()), dict)
