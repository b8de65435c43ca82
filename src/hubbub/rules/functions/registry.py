"""The table of IoT SQL functions: lower-cased name -> implementation and arity.

A function called with the wrong number or types of arguments returns Undefined
("Data types": functions called with invalid arguments return Undefined).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hubbub.rules.context import MessageContext
from hubbub.rules.values import UNDEFINED, loads

Impl = Callable[..., Any]
#: What a function may raise on bad arguments; it then returns Undefined, never crashes.
CALL_ERRORS = (ValueError, TypeError, ArithmeticError, LookupError, RecursionError, re.error)


@dataclass(frozen=True, slots=True)
class Function:
    name: str
    impl: Impl
    min_args: int
    max_args: int
    wants_context: bool
    takes_binary: bool  # sees ``*`` as the raw payload bytes (encode)

    def __call__(self, ctx: MessageContext, args: list[Any]) -> Any:
        if not self.min_args <= len(args) <= self.max_args:
            return UNDEFINED
        if not self.takes_binary:
            args = [loads(a) if isinstance(a, bytes) else a for a in args]
        try:
            if self.wants_context:
                return self.impl(ctx, *args)
            return self.impl(*args)
        except CALL_ERRORS:
            # A failure inside a function is "invalid arguments": Undefined, never a crash.
            return UNDEFINED


FUNCTIONS: dict[str, Function] = {}


def register(name: str, min_args: int, max_args: int | None = None, *,
             context: bool = False, binary: bool = False) -> Callable[[Impl], Impl]:
    def deco(fn: Impl) -> Impl:
        FUNCTIONS[name] = Function(name, fn, min_args,
                                   min_args if max_args is None else max_args, context, binary)
        return fn
    return deco
