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
from hubbub.rules.evaluator import Evaluator
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
    """A parsed rule query; immutable and shared through ``parse_sql``'s cache."""

    sql: str
    topic_filter: str
    select: ast.Select
    where: ast.Expr | None
    sets: tuple[tuple[str, ast.Expr], ...] = ()

    def variables(self, ctx: MessageContext) -> dict[str, Any]:
        """The SET clause's variables for this message (later ones see earlier ones)."""
        ev = Evaluator(ctx)
        for name, expr in self.sets:
            ev.variables[name] = ev.eval(expr, ev.top)
        return ev.variables

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
        ev = Evaluator(ctx, self.variables(ctx))
        if not ev.where(self.where, ev.top):
            return None
        items = self.select.items
        if not self.select.value and len(items) == 1 and isinstance(items[0].expr, ast.Star):
            # SELECT * passes the message through: any JSON value, or binary as received.
            if ev.top is UNDEFINED:
                return EvalResult(ctx.payload, ev.variables)
            return EvalResult(ev.top, ev.variables)
        return EvalResult(strip_undefined(ev.select(self.select, ev.top)), ev.variables)


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
