"""Each built-in function, including its Undefined cases."""

from __future__ import annotations

import hashlib
import math
from typing import Any

import pytest
from iotsql_helpers import value

from hubbub.rules import UNDEFINED
from hubbub.rules.functions import FUNCTIONS

U = UNDEFINED

CASES: list[tuple[str, Any]] = [
    # numbers
    ("abs(-5)", 5), ("abs('-5.5')", 5.5), ("abs(true)", U), ("abs(null)", U),
    ("ceil(1.2)", 2), ("floor(-1.2)", -2), ("ceil([1])", U), ("floor(3)", 3),
    ("round(2.5)", 3), ("round(-2.5)", -3), ("round(2.4)", 2), ("round('x')", U),
    ("sign(-2.5)", -1), ("trunc(2.789, 1)", 2.7), ("trunc(-2.789, 2)", -2.78),
    ("mod(-7, 3)", -1), ("remainder(7.5, 2)", 1.5), ("mod(1, 0)", U),
    ("power(2, 10)", 1024), ("power(2, -1)", 0.5), ("sqrt(-1)", U), ("sqrt(2)", math.sqrt(2)),
    ("ln(1)", 0), ("log(1000)", 3), ("log(0)", U), ("exp(0)", 1), ("acos(2)", U),
    ("atan2(0, 1)", 0), ("sinh(0)", 0), ("cos('0')", 1),
    ("nanvl(8, 3)", 8), ("nanvl('x', 3)", 3),
    ("bitand(12, 10)", 8), ("bitor(12, 10)", 14), ("bitxor(12, 10)", 6), ("bitnot(0)", -1),
    ("bitand(1.5, 1)", 1), ("bitand('a', 1)", U),
    # strings
    ("lower('AbC')", "abc"), ("upper(1)", "1"), ("upper(null)", "NULL"), ("upper(nope)", U),
    ("trim('  a b  ')", "a b"), ("ltrim('  a ')", "a "), ("rtrim(' a  ')", " a"),
    ("length('héllo')", 5), ("length([1])", 3), ("numbytes('é')", 2),
    ("startswith('chat/out', 'chat')", True), ("endswith('a.json', '.txt')", False),
    ("indexof('abcabc', 'c')", 2), ("indexof('abc', 'z')", -1),
    ("replace('a-b-c', '-', '+')", "a+b+c"),
    ("regexp_matches('abc123', '[0-9]+')", True), ("regexp_matches('a', '(')", U),
    ("regexp_replace('2024-01-02', '(\\d+)-(\\d+)-(\\d+)', '$3/$2/$1')", "02/01/2024"),
    ("regexp_replace('a.b', '\\.', '\\$')", "a$b"),
    ("regexp_substr('abc123def', '[0-9]+')", "123"), ("regexp_substr('abc', 'z')", ""),
    ("substring('hello', 1, 3)", "el"), ("substring('hello', 10)", ""),
    ("substring('hello', 'x')", U), ("substring('hello')", U),
    ("lpad('a', 2)", "  a"), ("rpad('a', -1)", U), ("chr(-1)", U), ("chr('66')", "B"),
    ("concat('a', 1, true, null)", "a1truenull"), ("concat('a', nope)", U),
    ("concat([1], [2, [3]])", [1, 2, [3]]),
    ("md5('')", hashlib.md5(b"").hexdigest()), ("sha1('a')", hashlib.sha1(b"a").hexdigest()),
    ("sha256('a')", hashlib.sha256(b"a").hexdigest()),
    ("sha512('a')", hashlib.sha512(b"a").hexdigest()),
    ("sha224('a')", hashlib.sha224(b"a").hexdigest()),
    ("sha384('a')", hashlib.sha384(b"a").hexdigest()),
    ("md2('')", "8350e5a3e24c153df2275c9f80692773"), ("md2('abc')",
                                                     "da853b0d3f88d99b30283a69e6ded6bb"),
    ("encode('hi', 'base64')", "aGk="), ("encode('hi', 'hex')", U),
    ("decode('aGk=', 'base64')", "hi"), ("decode('eyJhIjoxfQ==', 'base64')", {"a": 1}),
    ("decode('//8=', 'base64')", U), ("decode(1, 'base64')", U),
    # collections and types
    ("get([1, 2], 5)", U), ("get({'a': 1}, 'b')", U), ("get({'a': 1}, 1)", U),
    ("get(1, 0)", U), ("get([1, 2], '1')", 2),
    ("isUndefined(nope)", True), ("isNull(nope)", False),
    ("transform('enrichArray', {'k': 1}, [{'a': 1}, 2])", [{"a": 1, "k": 1}]),
    ("transform('other', {}, [])", U), ("transform('enrichArray', 1, [])", U),
    ("cast('12.7' AS Int)", 12), ("cast(12.7 AS String)", "12.7"), ("cast(0 AS Boolean)", False),
    ("cast('TRUE' AS Boolean)", True), ("cast('x' AS Decimal)", U), ("cast(false AS Decimal)", 0),
    ("cast([1] AS String)", "[1]"), ("cast(nope AS String)", U), ("cast(2 AS Boolean)", True),
    ("sql_version()", "2016-03-23"),
    # time
    ("parse_time('yyyy-MM-dd HH:mm:ss.SSS Z', 0)", "1970-01-01 00:00:00.000 +0000"),
    ("parse_time('EEE, d MMM yyyy hh:mm a', 1700000000000, 'Europe/Paris')",
     "Tue, 14 Nov 2023 11:13 PM"),
    ("parse_time('yyyy', 0, 'Not/AZone')", U), ("parse_time('yyyy', 'x')", U),
    ("parse_time('QQQ', 0)", U),
    ("time_to_epoch('2023-11-14T22:13:20Z', \"yyyy-MM-dd'T'HH:mm:ssX\")", 1700000000000),
    ("time_to_epoch('1970-01-01 01:00 +0100', 'yyyy-MM-dd HH:mm Z')", 0),
    ("time_to_epoch('03/04/2020 01:02:03 PM', 'MM/dd/yyyy hh:mm:ss a')", 1583326923000),
    ("time_to_epoch('nope', 'yyyy')", U),
]


@pytest.mark.parametrize(("expr", "expected"), CASES, ids=[c[0] for c in CASES])
def test_function(expr: str, expected: Any) -> None:
    got = value(expr)
    if expected is UNDEFINED or isinstance(expected, bool):
        assert got is expected
    elif isinstance(expected, float):
        assert isinstance(got, (int, float)) and math.isclose(got, expected, rel_tol=1e-12)
    else:
        assert got == expected


def test_context_functions() -> None:
    kw: dict[str, Any] = dict(topic="chat/room/42", client_id="c-1", principal="p-1",
                              timestamp_ms=123, account_id="111122223333",
                              trace_id="t-1", source_ip="127.0.0.1", rand=lambda: 0.25)
    assert value("clientid()", **kw) == "c-1"
    assert value("principal()", **kw) == "p-1"
    assert value("timestamp()", **kw) == 123
    assert value("newuuid()", **kw) == "00000000-0000-4000-8000-000000000001"
    assert value("accountid()", **kw) == "111122223333"
    assert value("traceid()", **kw) == "t-1"
    assert value("sourceip()", **kw) == "127.0.0.1"
    assert value("rand()", **kw) == 0.25
    assert value("topic()", **kw) == "chat/room/42"
    assert value("topic(3)", **kw) == "42"
    assert value("topic('2')", **kw) == "room"
    assert value("topic(0)", **kw) is UNDEFINED
    assert value("topic(4)", **kw) is UNDEFINED


def test_context_functions_when_nothing_is_known() -> None:
    assert value("clientid()") == "n/a"  # IoT Core's value for non-MQTT publishers
    assert value("principal()") is UNDEFINED
    assert value("accountid()") is UNDEFINED


def test_basic_ingest_topic_drops_the_rule_prefix() -> None:
    assert value("topic()", topic="$aws/rules/myRule/a/b") == "a/b"
    assert value("topic(1)", topic="$aws/rules/myRule/a/b") == "a"


def test_wrong_arity_is_undefined() -> None:
    assert value("upper('a', 'b')") is UNDEFINED
    assert value("concat()") is UNDEFINED
    assert value("topic(1, 2)") is UNDEFINED


def test_function_table_is_documented_names_only() -> None:
    assert "aws_lambda" not in FUNCTIONS
    assert {"clientid", "timestamp", "topic", "newuuid", "principal", "isundefined", "isnull",
            "concat", "get", "round", "lower", "upper", "substring", "startswith", "length",
            "encode", "decode", "parse_time"} <= set(FUNCTIONS)


@pytest.mark.parametrize(("text", "matches"), [
    ("ab", True), ("ab\n", True), ("ab\r\n", True), ("ab\r", True), ("ab\u0085", True),
    ("ab\u2028", True), ("ab\u2029", True), ("ab\n\n", False), ("abc", False),
])
def test_regex_dollar_means_what_it_means_in_java(text: str, matches: bool) -> None:
    # IoT Core runs java.util.regex: `$` is the end, or before one final line terminator of
    # any of Java's kinds (Python's `$` knows only "\n").
    assert value("regexp_matches(s, '^ab$')", {"s": text}) is matches


def test_regex_dot_matches_no_java_line_terminator() -> None:
    for eol in "\n\r\u0085\u2028\u2029":
        assert value("regexp_matches(s, 'a.b')", {"s": f"a{eol}b"}) is False
    assert value("regexp_matches(s, 'a.b')", {"s": "a\tb"}) is True
    # inside a class and escaped, `.` and `$` are literal in both dialects
    assert value("regexp_substr(s, '[.$]+')", {"s": "x.$y"}) == ".$"
    assert value("regexp_replace(s, '\\$', '!')", {"s": "a$b"}) == "a!b"
