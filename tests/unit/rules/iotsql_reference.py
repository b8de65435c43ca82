"""The tree-walking IoT SQL interpreter hubbub used before the evaluator compiled
syntax trees into closures, kept as the oracle of tests/unit/rules/test_rules_compiled.py.

Missing attributes are Undefined; Undefined flows through operators and functions;
an Undefined SELECT item drops its key; a WHERE that is not true (false or Undefined)
filters the message out (IoT SQL reference, "Data types" and "SELECT clause").
"""

from __future__ import annotations

from typing import Any

from hubbub.rules import ast
from hubbub.rules.context import MessageContext
from hubbub.rules.functions import FUNCTIONS
from hubbub.rules.operators import (
    arithmetic,
    compare,
    contained_in,
    equals,
    logical_and,
    logical_not,
    logical_or,
    negate,
)
from hubbub.rules.values import (
    UNDEFINED,
    is_number,
    parse_number,
    to_bool,
    to_decimal,
    to_int,
    to_string,
)


def cast(value: Any, typ: str) -> Any:
    """``cast(value AS type)``; unlike implicit conversion, Booleans become 1/0 and back."""
    if value is UNDEFINED:
        return UNDEFINED
    if typ == "string":
        return to_string(value)
    if typ in ("boolean", "bool"):
        if isinstance(value, bool):
            return value
        if is_number(value):
            return value != 0
        return to_bool(value)
    if isinstance(value, bool):
        return int(value)
    if typ == "int":
        return to_int(value)
    if isinstance(value, str):
        return parse_number(value)
    return to_decimal(value)


def _default_name(e: ast.Expr, position: int) -> str:
    match e:
        case ast.Ref(name) | ast.Attr(_, name) | ast.Var(name) | ast.Call(name, _):
            return name
    return f"_{position}"


class Evaluator:
    """Evaluates expressions of one statement against one message."""

    __slots__ = ("ctx", "variables", "top")

    def __init__(self, ctx: MessageContext, variables: dict[str, Any] | None = None) -> None:
        self.ctx = ctx
        self.variables: dict[str, Any] = {} if variables is None else variables
        self.top = ctx.document

    def eval(self, e: ast.Expr, doc: Any) -> Any:
        match e:
            case ast.Literal(value):
                return value
            case ast.Ref(name):
                return doc.get(name, UNDEFINED) if isinstance(doc, dict) else UNDEFINED
            case ast.Var(name):
                return self.variables.get(name, UNDEFINED)
            case ast.Star():
                return doc
            case ast.Attr(base, name):
                b = self.eval(base, doc)
                return b.get(name, UNDEFINED) if isinstance(b, dict) else UNDEFINED
            case ast.Index(base, index):
                return self._index(self.eval(base, doc), self.eval(index, doc))
            case ast.Call(name, args):
                values = [self._arg(a, doc) for a in args]
                return FUNCTIONS[name](self.ctx, values)
            case ast.Cast(expr, typ):
                return cast(self.eval(expr, doc), typ)
            case ast.Unary(op, expr):
                v = self.eval(expr, doc)
                if op == "not":
                    return logical_not(v)
                return negate(v) if op == "-" else to_decimal(v)
            case ast.Binary(op, left, right):
                return self._binary(op, self.eval(left, doc), self.eval(right, doc))
            case ast.Case(subject, whens, default):
                return self._case(subject, whens, default, doc)
            case ast.ArrayLit(items):
                return [self.eval(i, doc) for i in items]
            case ast.ObjectLit(pairs):
                return {k: self.eval(v, doc) for k, v in pairs}
            case ast.Subquery(select, source, where):
                return self._subquery(select, self.eval(source, doc), where)
        raise AssertionError(f"unknown node {e!r}")

    def _arg(self, a: ast.Expr, doc: Any) -> Any:
        if isinstance(a, ast.Star) and doc is self.top:
            return self.ctx.payload  # ``encode(*, 'base64')`` sees the bytes as received
        return self.eval(a, doc)

    @staticmethod
    def _index(base: Any, index: Any) -> Any:
        if isinstance(base, list) and is_number(index) and not isinstance(index, float):
            return base[index] if 0 <= index < len(base) else UNDEFINED
        if isinstance(base, dict) and isinstance(index, str):
            return base.get(index, UNDEFINED)
        return UNDEFINED

    @staticmethod
    def _binary(op: str, a: Any, b: Any) -> Any:
        if op == "and":
            return logical_and(a, b)
        if op == "or":
            return logical_or(a, b)
        if op == "in":
            return contained_in(a, b)
        if op in ("+", "-", "*", "/", "%"):
            return arithmetic(op, a, b)
        return compare(op, a, b)

    def _case(self, subject: ast.Expr | None, whens: tuple[tuple[ast.Expr, ast.Expr], ...],
              default: ast.Expr | None, doc: Any) -> Any:
        if subject is not None:
            value = self.eval(subject, doc)
            for when, then in whens:
                if equals(value, self.eval(when, doc)) is True:
                    return self.eval(then, doc)
        else:
            for when, then in whens:
                if to_bool(self.eval(when, doc)) is True:
                    return self.eval(then, doc)
        return UNDEFINED if default is None else self.eval(default, doc)

    def _subquery(self, select: ast.Select, source: Any, where: ast.Expr | None) -> Any:
        # Nested object queries: an Array source gives an Array of outputs (elements the
        # WHERE rejects are left out); an Object source gives one output.
        if isinstance(source, list):
            return [self.select(select, el) for el in source if self.where(where, el)]
        if isinstance(source, dict):
            return self.select(select, source) if self.where(where, source) else UNDEFINED
        return UNDEFINED

    def where(self, where: ast.Expr | None, doc: Any) -> bool:
        return where is None or to_bool(self.eval(where, doc)) is True

    def select(self, select: ast.Select, doc: Any) -> Any:
        if select.value:
            return self.eval(select.items[0].expr, doc)
        out: dict[str, Any] = {}
        for position, item in enumerate(select.items, 1):
            if isinstance(item.expr, ast.Star):
                if isinstance(doc, dict):
                    out.update(doc)
                continue
            v = self.eval(item.expr, doc)
            if v is not UNDEFINED:  # an Undefined item drops its key
                out[item.alias or _default_name(item.expr, position)] = v
        return out
