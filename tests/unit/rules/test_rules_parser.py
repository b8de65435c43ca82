from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.errors import ConfigError
from hubbub.rules import SqlError, ast, parse_sql


def test_parts_of_a_statement() -> None:
    s = parse_sql("SELECT a AS x, b.c, * FROM 'chat/+/in' WHERE a > 1")
    assert s.topic_filter == "chat/+/in"
    assert [i.alias for i in s.select.items] == ["x", None, None]
    assert s.select.items[1].expr == ast.Attr(ast.Ref("b"), "c")
    assert s.where == ast.Binary(">", ast.Ref("a"), ast.Literal(1))


def test_keywords_and_functions_are_case_insensitive_attributes_are_not() -> None:
    s = parse_sql("select VALUE Upper(Color) from 'a' where NOT isNull(Color)")
    assert s.select.value
    assert s.select.items[0].expr == ast.Call("upper", (ast.Ref("Color"),))


def test_keywords_are_plain_names_where_no_keyword_fits() -> None:
    s = parse_sql("SELECT a.value AS value, a.end FROM 't'")
    assert s.select.items[0] == ast.SelectItem(ast.Attr(ast.Ref("a"), "value"), "value")


def test_literals() -> None:
    s = parse_sql("SELECT VALUE [1, 2.5, 2.0, -3, 'x', \"y\", true, FALSE, Null, {'k': 1}] "
                  "FROM 't'")
    items = s.select.items[0].expr
    assert isinstance(items, ast.ArrayLit)
    values = [i.value for i in items.items[:-1] if isinstance(i, ast.Literal)]
    # SQL 2016-03-23 treats whole-number decimals as Int
    assert values == [1, 2.5, 2, -3, "x", "y", True, False, None]
    assert isinstance(values[2], int)


def test_string_escapes() -> None:
    s = parse_sql(r"SELECT VALUE 'it\'s \u00e9' FROM 't'")
    assert s.select.items[0].expr == ast.Literal("it's é")


def test_parse_is_cached() -> None:
    sql = "SELECT * FROM 'cache/me'"
    assert parse_sql(sql) is parse_sql(sql)


@pytest.mark.parametrize(("sql", "message", "column"), [
    ("SELECT FROM 't'", "unexpected", 13),
    ("SELECT a FROM", "unexpected end of input", None),
    ("SELECT a FROM 't' WHERE a = ?", "unexpected character '?'", 29),
    ("SELECT nosuch(1) FROM 't'", "unknown function nosuch()", 8),
    ("SELECT cast(a AS blob) FROM 't'", "cast() to unknown type 'blob'", 8),
    ("SELECT upper(a AS int) FROM 't'", "only valid inside cast()", 8),
    ("SELECT a FROM 'a/#/b'", "invalid FROM topic filter", None),
    ("SELECT 'unterminated FROM 't'", "unexpected", None),
    ("", "unexpected end of input", None),
])
def test_bad_sql_is_a_config_error_with_position(sql: str, message: str,
                                                  column: int | None) -> None:
    with pytest.raises(ConfigError) as info:
        parse_sql(sql)
    assert isinstance(info.value, SqlError)
    assert message in str(info.value)
    if column is not None:
        assert info.value.column == column
        assert f"column {column}" in str(info.value)
    assert "Traceback" not in str(info.value) and "lark" not in str(info.value)


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    deep = "(" * 5000 + "1" + ")" * 5000
    try:
        parse_sql(f"SELECT VALUE {deep} FROM 't'")
    except SqlError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="SELECTFROMWHERE *,()'\"ab.=<>+-0123456789[]{}@:/#", max_size=60))
def test_fuzzed_sql_only_ever_raises_sql_error(text: str) -> None:
    try:
        parse_sql(text)
    except SqlError:
        pass
