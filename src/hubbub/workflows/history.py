"""Execution history events, shaped like Step Functions' GetExecutionHistory output.

Ids count from 1 (``ExecutionStarted`` is event 1) in the order events happen, across
Map iterations and Parallel branches, as AWS numbers them. Pure: timestamps come from
the injected clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hubbub.workflows.payload import dumps

# Event type -> the name of its details field (AWS: ``<camelCaseType>EventDetails``).
_DETAILS_OVERRIDE = {
    "StateEntered": "stateEnteredEventDetails",
    "StateExited": "stateExitedEventDetails",
}


def iso(seconds: float) -> str:
    """Seconds since the epoch as an RFC 3339 UTC timestamp with milliseconds."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _details_key(kind: str) -> str:
    for suffix, key in _DETAILS_OVERRIDE.items():
        if kind.endswith(suffix):
            return key
    return kind[0].lower() + kind[1:] + "EventDetails"


@dataclass
class History:
    """The shared, append-only event list of one execution and all its branches."""

    clock: Callable[[], float]
    events: list[dict[str, Any]] = field(default_factory=list)

    def add(self, kind: str, details: dict[str, Any] | None = None, prev: int = 0) -> int:
        event: dict[str, Any] = {
            "id": len(self.events) + 1,
            "previousEventId": prev,
            "timestamp": iso(self.clock()),
            "type": kind,
        }
        if details is not None:
            event[_details_key(kind)] = details
        self.events.append(event)
        return int(event["id"])


def io_details(name: str, key: str, value: Any) -> dict[str, Any]:
    return {"name": name, key: dumps(value), f"{key}Details": {"truncated": False}}
