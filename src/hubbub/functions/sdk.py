"""The small hubbub API that handlers use to reach the other building blocks.

Handlers import it as ``from hubbub.functions import sdk`` and call ``await sdk.publish(...)``,
``sdk.table("chat")``, ``await sdk.put_record(...)``, ``await sdk.start_execution(...)``.
Each call maps to one boto3 call on AWS (iot-data ``publish``, DynamoDB ``put_item`` /
``query`` / ``get_item`` / ``delete_item``, Kinesis ``put_record``, Step Functions
``start_execution``), which is what the SAM export's shim does.

The services behind it are bound per invocation through a context variable, so several
servers can live in one process (tests) and a handler always talks to its own.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Mapping
from typing import Any, Protocol

from hubbub.errors import UsageError


class Services(Protocol):
    """What the server hands to functions. Implemented in ``hubbub.app``."""

    settings: Mapping[str, Any]

    async def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None: ...

    def table(self, name: str) -> Any: ...

    async def put_record(self, stream: str, partition_key: str, data: bytes) -> Any: ...

    async def start_execution(self, state_machine: str, input: Any,
                              name: str | None) -> dict[str, Any]: ...

    async def invoke(self, function: str, event: Any) -> Any: ...

    async def create_state_machine(self, name: str, definition: Any,
                                   type: str) -> dict[str, Any]: ...


current: contextvars.ContextVar[Services] = contextvars.ContextVar("hubbub_services")


def _services() -> Services:
    try:
        return current.get()
    except LookupError:
        raise UsageError("hubbub.functions.sdk used outside a function invocation") from None


def _bytes(payload: bytes | str | Mapping[str, Any] | list[Any]) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode()
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


async def publish(topic: str, payload: bytes | str | Mapping[str, Any] | list[Any],
                  qos: int = 0, retain: bool = False) -> None:
    """Publish as the backend identity (``iot-data publish``)."""
    await _services().publish(topic, _bytes(payload), qos, retain)


def table(name: str) -> Any:
    """The named table (DynamoDB model: ``put``, ``get``, ``query``, ``delete``)."""
    return _services().table(name)


async def put_record(stream: str, partition_key: str,
                     data: bytes | str | Mapping[str, Any]) -> Any:
    """Put one record into a stream (Kinesis ``put_record``)."""
    return await _services().put_record(stream, partition_key, _bytes(data))


async def start_execution(state_machine: str, input: Any = None,
                          name: str | None = None) -> dict[str, Any]:
    """Start a state machine (Step Functions ``start_execution``)."""
    return await _services().start_execution(state_machine, input, name)


async def create_state_machine(name: str, definition: Mapping[str, Any] | str,
                               type: str = "STANDARD") -> dict[str, Any]:
    """Create (or replace) a state machine from an ASL definition (Step Functions
    ``create_state_machine``; ``type`` STANDARD or EXPRESS); raises ``InvalidDefinition``
    naming the offending path."""
    return await _services().create_state_machine(name, definition, type)


async def invoke(function: str, event: Any) -> Any:
    """Invoke another function synchronously (Lambda ``invoke``, RequestResponse)."""
    return await _services().invoke(function, event)


def settings() -> Mapping[str, Any]:
    """The application's settings (manifest ``settings`` overridden by the config's ``[app]``)."""
    return _services().settings
