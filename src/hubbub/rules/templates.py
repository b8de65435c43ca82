"""Substitution templates: ``${expression}`` inside action fields (``chat/pub/${room}``).

IoT Core evaluates them against the incoming message (the original payload, not the
SELECT output), with the same functions and the statement's SET variables
("Substitution templates" in the IoT developer guide). An Undefined result becomes "".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from hubbub.rules import ast
from hubbub.rules.context import MessageContext
from hubbub.rules.evaluator import Fn, Scope, compile_expr
from hubbub.rules.functions import KNOWN_FUNCTIONS
from hubbub.rules.parser import SqlError, parse_expression
from hubbub.rules.values import UNDEFINED, to_string


@dataclass(frozen=True)
class Template:
    source: str
    parts: tuple[str | ast.Expr, ...]
    #: The parts with each expression compiled once (``hubbub.rules.evaluator``).
    _compiled: tuple[str | Fn, ...] = field(init=False, repr=False, compare=False)
    is_constant: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", tuple(
            p if isinstance(p, str) else compile_expr(p) for p in self.parts))
        object.__setattr__(self, "is_constant", all(isinstance(p, str) for p in self.parts))

    def render(self, ctx: MessageContext, variables: Mapping[str, Any] | None = None) -> str:
        if self.is_constant:
            return self.source
        sc = Scope(ctx, dict(variables or {}))
        out: list[str] = []
        for p in self._compiled:
            if isinstance(p, str):
                out.append(p)
                continue
            v = to_string(p(sc, sc.top))
            out.append("" if v is UNDEFINED else v)
        return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    # Object literals and quoted strings may contain braces: skip them.
    depth, i, quote = 0, start, ""
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"`":
            quote = c
        elif c == "{":
            depth += 1
        elif c == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    raise SqlError(f"unclosed '${{' in template {text!r}", line=1, column=start - 1)


@lru_cache(maxsize=1024)
def compile_template(text: str) -> Template:
    """Parse the ``${...}`` parts of ``text`` once; raise ``SqlError`` if one is bad."""
    parts: list[str | ast.Expr] = []
    i = 0
    while True:
        j = text.find("${", i)
        if j < 0:
            if i < len(text):
                parts.append(text[i:])
            break
        if j > i:
            parts.append(text[i:j])
        end = _closing_brace(text, j + 2)
        try:
            parts.append(parse_expression(text[j + 2:end], KNOWN_FUNCTIONS))
        except SqlError as exc:
            raise SqlError(f"in template {text!r}: {exc}") from None
        i = end + 1
    return Template(text, tuple(parts))


def render_template(template: str, ctx: MessageContext,
                    variables: Mapping[str, Any] | None = None) -> str:
    """Substitute every ``${expression}`` in ``template`` for the message in ``ctx``."""
    return compile_template(template).render(ctx, variables)
