"""The IoT SQL syntax tree: one frozen dataclass per node, joined in ``Expr``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any


@dataclass(frozen=True, slots=True)
class Ref:
    """A top-level attribute of the current document (the payload, or a FROM element)."""

    name: str


@dataclass(frozen=True, slots=True)
class Var:
    """``@name``, bound by a SET clause."""

    name: str


@dataclass(frozen=True, slots=True)
class Star:
    """``*``: the whole current document (the raw payload as a function argument)."""


@dataclass(frozen=True, slots=True)
class Attr:
    base: Expr
    name: str


@dataclass(frozen=True, slots=True)
class Index:
    base: Expr
    index: Expr


@dataclass(frozen=True, slots=True)
class Call:
    name: str  # lower-cased: function names are case-insensitive (``Round``, ``Ltrim``)
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Cast:
    expr: Expr
    type: str  # lower-cased: int, decimal, string, boolean


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-", "+", "not"
    expr: Expr


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # + - * / % = <> < <= > >= and or in
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Case:
    subject: Expr | None
    whens: tuple[tuple[Expr, Expr], ...]
    default: Expr | None


@dataclass(frozen=True, slots=True)
class ArrayLit:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class ObjectLit:
    pairs: tuple[tuple[str, Expr], ...]


@dataclass(frozen=True, slots=True)
class SelectItem:
    expr: Expr  # Star for ``*``
    alias: str | None


@dataclass(frozen=True, slots=True)
class Select:
    value: bool  # SELECT VALUE expr: the output is the bare value
    items: tuple[SelectItem, ...]


@dataclass(frozen=True, slots=True)
class Subquery:
    """A nested object query: ``(SELECT ... FROM expr WHERE ...)``."""

    select: Select
    source: Expr
    where: Expr | None


Expr = (Literal | Ref | Var | Star | Attr | Index | Call | Cast | Unary | Binary | Case
        | ArrayLit | ObjectLit | Subquery)
