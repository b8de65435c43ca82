"""What one evaluation sees: the message and the values injected from outside."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from hubbub.rules.values import loads

BASIC_INGEST_PREFIX = "$aws/rules/"


def _no_uuid() -> str:
    raise LookupError("newuuid() needs a uuid source in the MessageContext")


def _no_rand() -> float:
    raise LookupError("rand() needs a random source in the MessageContext")


@dataclass(frozen=True, eq=False)
class MessageContext:
    """One incoming message plus injected time, ids and randomness (the evaluator is pure)."""

    topic: str
    payload: bytes
    client_id: str | None = None
    principal: str | None = None
    timestamp_ms: int = 0
    newuuid: Callable[[], str] = field(default=_no_uuid)
    account_id: str | None = None
    trace_id: str | None = None
    source_ip: str | None = None
    rand: Callable[[], float] = field(default=_no_rand)

    @cached_property
    def document(self) -> Any:
        """The payload as JSON, or Undefined when it is not JSON (a binary payload)."""
        return loads(self.payload)

    @cached_property
    def memo(self) -> dict[str, bool]:
        """Conditions already decided for this message, shared by the rules that see it
        (``hubbub.rules.evaluator.compile_test``)."""
        return {}

    @cached_property
    def rule_topic(self) -> str:
        """The topic as ``topic()`` sees it: Basic Ingest's ``$aws/rules/<rule>/`` removed."""
        if self.topic.startswith(BASIC_INGEST_PREFIX):
            parts = self.topic.split("/", 3)
            if len(parts) == 4:
                return parts[3]
        return self.topic
