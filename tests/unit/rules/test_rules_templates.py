from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from iotsql_helpers import make_ctx

from hubbub.errors import ConfigError
from hubbub.rules import compile_template, parse_sql, render_template


def test_templates_read_the_original_message() -> None:
    ctx = make_ctx({"room": "lobby", "n": 2, "o": {"k": [1, 2]}}, topic="chat/out/x",
                   client_id="c1")
    assert render_template("chat/pub/${room}", ctx) == "chat/pub/lobby"
    assert render_template("${topic()}", ctx) == "chat/out/x"
    assert render_template("${topic(3)}-${clientid()}", ctx) == "x-c1"
    assert render_template("${n * 2}", ctx) == "4"
    assert render_template("${o}", ctx) == '{"k":[1,2]}'
    assert render_template("${missing}|${null}", ctx) == "|null"
    assert render_template("no templates", ctx) == "no templates"
    assert render_template("$notatemplate {x}", ctx) == "$notatemplate {x}"


def test_braces_inside_templates() -> None:
    ctx = make_ctx({"a": 1})
    assert render_template("${get({'x': '}'}, 'x')}!", ctx) == "}!"
    assert render_template("${ {'k': a}.k }", ctx) == "1"


def test_templates_see_set_variables_not_select_aliases() -> None:
    st = parse_sql("SET @r = upper(room) SELECT room AS alias FROM 'a/b'")
    ctx = make_ctx({"room": "x"})
    result = st.evaluate(ctx)
    assert result is not None
    assert render_template("${@r}/${alias}/${room}", ctx, result.variables) == "X//x"


def test_compiled_once() -> None:
    assert compile_template("a/${b}") is compile_template("a/${b}")
    assert compile_template("plain").is_constant


@pytest.mark.parametrize("bad", ["a/${", "a/${b", "${}", "${nosuch()}", "${a +}"])
def test_bad_templates_are_config_errors(bad: str) -> None:
    with pytest.raises(ConfigError, match="template|unexpected|unclosed"):
        compile_template(bad)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="${}()'\"ab.+,[]@*/ ", max_size=30))
def test_fuzzed_templates_render_or_raise_config_error(text: str) -> None:
    try:
        out = render_template(text, make_ctx({"a": "x", "b": [1]}))
    except ConfigError:
        return
    assert isinstance(out, str)
