"""Parsed IoT SQL statements and their evaluation against a message."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from hubbub.errors import BadRequest
from hubbub.mqtt.topics import TopicError, validate_topic_filter
from hubbub.rules import ast
from hubbub.rules.context import MessageContext
from hubbub.rules.evaluator import Fn, Scope, Test, compile_expr, compile_select, compile_where
from hubbub.rules.functions import KNOWN_FUNCTIONS
from hubbub.rules.parser import SqlError, parse_statement
from hubbub.rules.values import UNDEFINED, dumps, strip_undefined

SQL_VERSIONS = ("2016-03-23",)


class EvaluationError(BadRequest):
    """A message the evaluator cannot process (nested deeper than the stack allows)."""


@dataclass(frozen=True)
class EvalResult:
    """What a rule's SELECT produced for one message.

    ``output`` is the SELECT value (a dict for a SELECT list, any value for SELECT VALUE,
    ``UNDEFINED`` when nothing came out), or the raw ``bytes`` when ``SELECT *`` met a
    payload that is not JSON (IoT Core passes binary payloads through unchanged).
    """

    output: Any
    variables: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_binary(self) -> bool:
        return isinstance(self.output, bytes)

    def payload(self) -> bytes:
        """The bytes an action sends: the output's JSON, or the binary payload itself."""
        if isinstance(self.output, bytes):
            return self.output
        return dumps(self.output).encode("utf-8", "replace")  # lone surrogates


@dataclass(frozen=True)
class Statement:
    """A parsed rule query; immutable and shared through ``parse_sql``'s cache.

    Its clauses are compiled into closures once, here (``hubbub.rules.evaluator``)."""

    sql: str
    topic_filter: str
    select: ast.Select
    where: ast.Expr | None
    sets: tuple[tuple[str, ast.Expr], ...] = ()
    _sets: tuple[tuple[str, Fn], ...] = field(init=False, repr=False, compare=False)
    _where: Test = field(init=False, repr=False, compare=False)
    _select: Fn = field(init=False, repr=False, compare=False)
    _star: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        items = self.select.items
        init = object.__setattr__  # frozen: the compiled form is set once, here
        init(self, "_sets", tuple((name, compile_expr(e)) for name, e in self.sets))
        init(self, "_where", compile_where(self.where))
        init(self, "_select", compile_select(self.select))
        init(self, "_star", not self.select.value and len(items) == 1
             and isinstance(items[0].expr, ast.Star))

    def variables(self, ctx: MessageContext) -> dict[str, Any]:
        """The SET clause's variables for this message (later ones see earlier ones)."""
        return self._scope(ctx).variables

    def _scope(self, ctx: MessageContext) -> Scope:
        sc = Scope(ctx)
        for name, f in self._sets:
            sc.variables[name] = f(sc, sc.top)
        return sc

    def evaluate(self, ctx: MessageContext) -> EvalResult | None:
        """Run SET, WHERE and SELECT; None when the WHERE clause is false or Undefined.

        The FROM filter is not checked here: matching topics is the engine's job.
        Raises ``EvaluationError`` only for a payload nested too deeply to walk.
        """
        try:
            return self._evaluate(ctx)
        except RecursionError:
            raise EvaluationError("payload is nested too deeply to evaluate") from None

    def _evaluate(self, ctx: MessageContext) -> EvalResult | None:
        sc = self._scope(ctx)
        top = sc.top
        if not self._where(sc, top):
            return None
        if self._star:
            # SELECT * passes the message through: any JSON value, or binary as received.
            if top is UNDEFINED:
                return EvalResult(ctx.payload, sc.variables)
            return EvalResult(top, sc.variables)
        return EvalResult(strip_undefined(self._select(sc, top)), sc.variables)


@lru_cache(maxsize=1024)
def parse_sql(sql: str) -> Statement:
    """Parse an IoT SQL (2016-03-23) statement; raise ``SqlError`` (a ConfigError) if bad."""
    if not isinstance(sql, str):
        raise SqlError("the SQL statement must be a string")
    parsed = parse_statement(sql, KNOWN_FUNCTIONS)
    try:
        validate_topic_filter(parsed.topic_filter)
    except TopicError as exc:
        raise SqlError(f"invalid FROM topic filter {parsed.topic_filter!r}: {exc}") from None
    return Statement(sql, parsed.topic_filter, parsed.select, parsed.where, parsed.sets)
