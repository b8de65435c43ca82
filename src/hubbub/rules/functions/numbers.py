"""Numeric functions. Functions documented "with double precision" compute on floats."""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from hubbub.rules.context import MessageContext
from hubbub.rules.functions.registry import register
from hubbub.rules.operators import arithmetic
from hubbub.rules.values import UNDEFINED, num, to_decimal, to_int


def _double(fn: Callable[..., float]) -> Callable[..., Any]:
    def impl(*args: Any) -> Any:
        xs = [to_decimal(a) for a in args]
        if any(x is UNDEFINED for x in xs):
            return UNDEFINED
        return num(fn(*(float(x) for x in xs)))  # imaginary / non-finite -> Undefined
    return impl


for _name, _fn in {
    "acos": math.acos, "asin": math.asin, "atan": math.atan, "cos": math.cos,
    "cosh": math.cosh, "sin": math.sin, "sinh": math.sinh, "tan": math.tan,
    "tanh": math.tanh, "exp": math.exp, "ln": math.log, "log": math.log10,
    "sqrt": math.sqrt,
}.items():
    register(_name, 1)(_double(_fn))
register("atan2", 2)(_double(math.atan2))
register("power", 2)(_double(math.pow))


@register("abs", 1)
def _abs(x: Any) -> Any:
    d = to_decimal(x)
    return UNDEFINED if d is UNDEFINED else abs(d)


def _integral(fn: Callable[[float], int]) -> Callable[[Any], Any]:
    def impl(x: Any) -> Any:
        d = to_decimal(x)
        if d is UNDEFINED:
            return UNDEFINED
        return d if isinstance(d, int) else fn(d)
    return impl


register("ceil", 1)(_integral(math.ceil))
register("floor", 1)(_integral(math.floor))


@register("round", 1)
def _round(x: Any) -> Any:
    # Half away from zero, as the examples show: round(1.5) = 2, round(-1.5) = -2.
    d = to_decimal(x)
    if d is UNDEFINED:
        return UNDEFINED
    return d if isinstance(d, int) else int(Decimal(repr(d)).quantize(1, ROUND_HALF_UP))


@register("sign", 1)
def _sign(x: Any) -> Any:
    d = to_decimal(x)
    if d is UNDEFINED:
        return UNDEFINED
    return (d > 0) - (d < 0)


@register("trunc", 2)
def _trunc(x: Any, places: Any) -> Any:
    d, n = to_decimal(x), to_int(places)
    if d is UNDEFINED or n is UNDEFINED:
        return UNDEFINED
    if isinstance(d, int):
        return d
    q = Decimal(repr(d)).quantize(Decimal(1).scaleb(-n), ROUND_DOWN)
    return num(float(q))


@register("mod", 2)
def _mod(a: Any, b: Any) -> Any:
    return arithmetic("%", a, b)


register("remainder", 2)(_mod)


@register("nanvl", 2)
def _nanvl(a: Any, b: Any) -> Any:
    # "Returns the first argument if it is a valid Decimal; otherwise the second."
    d = to_decimal(a)
    if d is UNDEFINED or (isinstance(d, float) and math.isnan(d)):
        return b
    return a


def _bits(fn: Callable[..., int]) -> Callable[..., Any]:
    def impl(*args: Any) -> Any:
        xs = [a if isinstance(a, int) and not isinstance(a, bool) else to_int(a) for a in args]
        if any(x is UNDEFINED for x in xs):
            return UNDEFINED
        return fn(*xs)
    return impl


register("bitand", 2)(_bits(lambda a, b: a & b))
register("bitor", 2)(_bits(lambda a, b: a | b))
register("bitxor", 2)(_bits(lambda a, b: a ^ b))
register("bitnot", 1)(_bits(lambda a: ~a))  # two's complement, as Java's ~


@register("rand", 0, context=True)
def _rand(ctx: MessageContext) -> Any:
    return ctx.rand()
