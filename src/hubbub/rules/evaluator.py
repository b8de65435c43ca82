"""The pure IoT SQL evaluator: each syntax tree is compiled once into closures.

Missing attributes are Undefined; Undefined flows through operators and functions;
an Undefined SELECT item drops its key; a WHERE that is not true (false or Undefined)
filters the message out (IoT SQL reference, "Data types" and "SELECT clause").

Why closures: a rule runs for every message on its topic, so walking the tree and
dispatching on node types per message was most of a chat message's cost. ``compile_expr``
does the dispatch once, at load time; a message then costs one Python call per node.
Conditions (WHERE, searched CASE, subquery WHERE, ``CASE x WHEN true``) are compiled a
second way, as *tests* that only answer "is it true?". ``a AND b`` is true only when
both sides are, so a test stops at the first side that is not; ``false AND undefined``
still has the value Undefined wherever a value is needed. (Functions without side effects
are skipped that way; ``newuuid()``/``rand()`` in a skipped operand are not drawn.)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from hubbub.rules import ast
from hubbub.rules.context import MessageContext
from hubbub.rules.functions import FUNCTIONS
from hubbub.rules.functions.registry import CALL_ERRORS
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


class Scope:
    """What one evaluation sees: the message, the SET variables, the top document."""

    __slots__ = ("ctx", "variables", "top")

    def __init__(self, ctx: MessageContext, variables: dict[str, Any] | None = None) -> None:
        self.ctx = ctx
        self.variables: dict[str, Any] = {} if variables is None else variables
        self.top = ctx.document


#: A compiled expression: (scope, current document) -> value.
Fn = Callable[[Scope, Any], Any]
#: A compiled condition: (scope, current document) -> whether the value is true.
Test = Callable[[Scope, Any], bool]

_U = UNDEFINED


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


def default_name(e: ast.Expr, position: int) -> str:
    """The key of an unaliased SELECT item: the attribute, variable or function name."""
    match e:
        case ast.Ref(name) | ast.Attr(_, name) | ast.Var(name) | ast.Call(name, _):
            return name
    return f"_{position}"


def _index(base: Any, index: Any) -> Any:
    if isinstance(base, list) and is_number(index) and not isinstance(index, float):
        return base[index] if 0 <= index < len(base) else _U
    if isinstance(base, dict) and isinstance(index, str):
        return base.get(index, _U)
    return _U


def compile_expr(e: ast.Expr) -> Fn:
    """The closure computing ``e``'s value (see the module docstring)."""
    match e:
        case ast.Literal(value):
            return lambda sc, doc: value
        case ast.Ref(name):
            return lambda sc, doc: doc.get(name, _U) if isinstance(doc, dict) else _U
        case ast.Var(name):
            return lambda sc, doc: sc.variables.get(name, _U)
        case ast.Star():
            return lambda sc, doc: doc
        case ast.Attr(base, name):
            return _attr(base, name)
        case ast.Index(base, index):
            fb, fi = compile_expr(base), compile_expr(index)
            return lambda sc, doc: _index(fb(sc, doc), fi(sc, doc))
        case ast.Call(name, args):
            return _call(name, args)
        case ast.Cast(expr, typ):
            f = compile_expr(expr)
            return lambda sc, doc: cast(f(sc, doc), typ)
        case ast.Unary(op, expr):
            f = compile_expr(expr)
            if op == "not":
                return lambda sc, doc: logical_not(f(sc, doc))
            if op == "-":
                return lambda sc, doc: negate(f(sc, doc))
            return lambda sc, doc: to_decimal(f(sc, doc))
        case ast.Binary(op, left, right):
            return _binary(op, compile_expr(left), compile_expr(right))
        case ast.Case(subject, whens, default):
            return _case(subject, whens, default)
        case ast.ArrayLit(items):
            fs = tuple(compile_expr(i) for i in items)
            return lambda sc, doc: [f(sc, doc) for f in fs]
        case ast.ObjectLit(pairs):
            fps = tuple((k, compile_expr(v)) for k, v in pairs)
            return lambda sc, doc: {k: f(sc, doc) for k, f in fps}
        case ast.Subquery(select, source, where):
            return _subquery(select, source, where)
    raise AssertionError(f"unknown node {e!r}")


def _attr(base: ast.Expr, name: str) -> Fn:
    if isinstance(base, ast.Ref):  # a.b, the common case: one call instead of two
        first = base.name

        def ref_attr(sc: Scope, doc: Any) -> Any:
            b = doc.get(first, _U) if isinstance(doc, dict) else _U
            return b.get(name, _U) if isinstance(b, dict) else _U
        return ref_attr
    fb = compile_expr(base)

    def attr(sc: Scope, doc: Any) -> Any:
        b = fb(sc, doc)
        return b.get(name, _U) if isinstance(b, dict) else _U
    return attr


def _arg(a: ast.Expr) -> Fn:
    if isinstance(a, ast.Star):
        # ``encode(*, 'base64')`` sees the bytes as received (at the top level).
        return lambda sc, doc: sc.ctx.payload if doc is sc.top else doc
    return compile_expr(a)


def _call(name: str, args: tuple[ast.Expr, ...]) -> Fn:
    fn = FUNCTIONS[name]
    fargs = tuple(_arg(a) for a in args)
    if fn.wants_context or any(isinstance(a, ast.Star) for a in args) \
            or not fn.min_args <= len(args) <= fn.max_args:
        # The general path: arity, the raw payload for ``*``, the context.
        return lambda sc, doc: fn(sc.ctx, [f(sc, doc) for f in fargs])
    impl = fn.impl
    # No ``*`` among the arguments, so no raw bytes reach the function: call it directly.
    if len(fargs) == 1:
        (f0,) = fargs

        def call1(sc: Scope, doc: Any) -> Any:
            a = f0(sc, doc)  # outside the try: only the function's own failures are caught
            try:
                return impl(a)
            except CALL_ERRORS:
                return _U
        return call1
    if len(fargs) == 2:
        f0, f1 = fargs

        def call2(sc: Scope, doc: Any) -> Any:
            a, b = f0(sc, doc), f1(sc, doc)
            try:
                return impl(a, b)
            except CALL_ERRORS:
                return _U
        return call2

    def call(sc: Scope, doc: Any) -> Any:
        values = [f(sc, doc) for f in fargs]
        try:
            return impl(*values)
        except CALL_ERRORS:
            return _U
    return call


def _binary(op: str, fa: Fn, fb: Fn) -> Fn:
    if op == "and":
        return lambda sc, doc: logical_and(fa(sc, doc), fb(sc, doc))
    if op == "or":
        return lambda sc, doc: logical_or(fa(sc, doc), fb(sc, doc))
    if op == "in":
        return lambda sc, doc: contained_in(fa(sc, doc), fb(sc, doc))
    if op in ("+", "-", "*", "/", "%"):
        return lambda sc, doc: arithmetic(op, fa(sc, doc), fb(sc, doc))
    if op == "=":
        return lambda sc, doc: equals(fa(sc, doc), fb(sc, doc))
    return lambda sc, doc: compare(op, fa(sc, doc), fb(sc, doc))


#: Nodes whose value is always a Boolean or Undefined: "is it true" is "is it True".
_LOGICAL = frozenset(("and", "or", "in", "=", "<>", "<", "<=", ">", ">="))


def _is_logical(e: ast.Expr) -> bool:
    return (isinstance(e, ast.Binary) and e.op in _LOGICAL) or (
        isinstance(e, ast.Unary) and e.op == "not")


def compile_test(e: ast.Expr) -> Test:
    """The closure answering whether ``e`` is true (``to_bool(value) is True``)."""
    if isinstance(e, ast.Binary) and e.op == "and":
        test = _and_test(e)
        if not _message_only(e):
            return test
        # Rules on one topic often repeat a condition (the chat's validity checks are
        # one rule's WHERE and another's negation): a conjunction that depends on the
        # message only is decided once per message, shared through ``MessageContext.memo``
        # under its syntax (interned, so equal conditions of two rules hit one key).
        key = sys.intern(repr(e))

        def shared(sc: Scope, doc: Any) -> bool:
            if doc is not sc.top:  # inside a subquery: about an element, not the message
                return test(sc, doc)
            memo = sc.ctx.memo
            found = memo.get(key)
            if found is None:
                found = memo[key] = test(sc, doc)
            return found
        return shared
    return _test(e)


def _and_test(e: ast.Expr) -> Test:
    if isinstance(e, ast.Binary) and e.op == "and":
        ta, tb = _and_test(e.left), _and_test(e.right)
        return lambda sc, doc: ta(sc, doc) and tb(sc, doc)
    return _test(e)


#: Functions whose value is not the same on every call for one message.
_VOLATILE = frozenset(("newuuid", "rand"))


def _message_only(e: Any) -> bool:
    """Whether ``e``'s value depends on the message alone: no SET variable, no
    ``newuuid()``/``rand()``."""
    stack = [e]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Var) or (isinstance(node, ast.Call) and node.name in _VOLATILE):
            return False
        if isinstance(node, tuple):
            stack.extend(node)
        elif hasattr(node, "__dataclass_fields__"):
            stack.extend(getattr(node, f) for f in node.__dataclass_fields__)
    return True


def _test(e: ast.Expr) -> Test:  # e is not an AND (see _and_test)
    if isinstance(e, ast.Unary) and e.op == "not":
        f = compile_expr(e.expr)
        return lambda sc, doc: to_bool(f(sc, doc)) is False
    f = compile_expr(e)
    if _is_logical(e):
        return lambda sc, doc: f(sc, doc) is True
    return lambda sc, doc: to_bool(f(sc, doc)) is True


def _is_true(e: ast.Expr) -> Test:
    """Whether ``e`` equals the Boolean true (``CASE e WHEN true``), as a test."""
    if _is_logical(e):
        return compile_test(e)  # its value is True exactly when it is true
    f = compile_expr(e)
    return lambda sc, doc: f(sc, doc) is True


def _case(subject: ast.Expr | None, whens: tuple[tuple[ast.Expr, ast.Expr], ...],
          default: ast.Expr | None) -> Fn:
    fd = compile_expr(default) if default is not None else (lambda sc, doc: _U)
    if subject is None:
        tests = tuple((compile_test(w), compile_expr(t)) for w, t in whens)

        def searched(sc: Scope, doc: Any) -> Any:
            for test, then in tests:
                if test(sc, doc):
                    return then(sc, doc)
            return fd(sc, doc)
        return searched
    first = whens[0][0] if len(whens) == 1 else None
    if isinstance(first, ast.Literal) and first.value is True:  # not 1: `is`, not ==
        is_true, then = _is_true(subject), compile_expr(whens[0][1])
        return lambda sc, doc: then(sc, doc) if is_true(sc, doc) else fd(sc, doc)
    fs = compile_expr(subject)
    arms = tuple((compile_expr(w), compile_expr(t)) for w, t in whens)

    def simple(sc: Scope, doc: Any) -> Any:
        value = fs(sc, doc)
        for when, then in arms:
            if equals(value, when(sc, doc)) is True:
                return then(sc, doc)
        return fd(sc, doc)
    return simple


def compile_select(select: ast.Select) -> Fn:
    """The SELECT clause as a closure: its object (or bare value with SELECT VALUE)."""
    if select.value:
        return compile_expr(select.items[0].expr)
    items: list[tuple[str | None, Fn]] = []
    for position, item in enumerate(select.items, 1):
        if isinstance(item.expr, ast.Star):
            items.append((None, compile_expr(item.expr)))
        else:
            items.append((item.alias or default_name(item.expr, position),
                          compile_expr(item.expr)))
    frozen = tuple(items)

    def run(sc: Scope, doc: Any) -> Any:
        out: dict[str, Any] = {}
        for key, f in frozen:
            if key is None:
                if isinstance(doc, dict):
                    out.update(doc)
                continue
            v = f(sc, doc)
            if v is not _U:  # an Undefined item drops its key
                out[key] = v
        return out
    return run


def compile_where(where: ast.Expr | None) -> Test:
    if where is None:
        return lambda sc, doc: True
    return compile_test(where)


def _subquery(select: ast.Select, source: ast.Expr, where: ast.Expr | None) -> Fn:
    # Nested object queries: an Array source gives an Array of outputs (elements the
    # WHERE rejects are left out); an Object source gives one output.
    fsel, fsrc, test = compile_select(select), compile_expr(source), compile_where(where)

    def subquery(sc: Scope, doc: Any) -> Any:
        src = fsrc(sc, doc)
        if isinstance(src, list):
            return [fsel(sc, el) for el in src if test(sc, el)]
        if isinstance(src, dict):
            return fsel(sc, src) if test(sc, src) else _U
        return _U
    return subquery
