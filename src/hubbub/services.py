"""The glue between blocks: what rules' actions and functions' sdk calls reach.

``Services`` implements both ``hubbub.rules.ActionSink`` (republish, lambda, kinesis,
dynamoDBv2, stepFunctions) and ``hubbub.functions.sdk.Services`` (publish, table,
put_record, start_execution, invoke), on top of whichever engines the config chose.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from hubbub.broker.hooks import Authorizer, Identity
from hubbub.errors import NotAuthorized, UsageError
from hubbub.functions import sdk
from hubbub.functions.runtime import FunctionRuntime
from hubbub.tables.base import Table
from hubbub.workflows.runner import function_name

log = logging.getLogger("hubbub.services")

Publish = Callable[[str, bytes, int, bool, Identity], Awaitable[None]]


class Services:
    def __init__(self, *, publish: Publish, backend: Identity,
                 backend_authorizer: Authorizer | None, functions: FunctionRuntime,
                 tables: Mapping[str, Table], settings: Mapping[str, Any]) -> None:
        self._publish = publish
        self._backend = backend
        self._backend_authz = backend_authorizer
        self.functions = functions
        self.tables = dict(tables)
        self.settings = settings
        self.streams: Any = None  # hubbub.streams engine, set by the server when it has one
        self.workflows: Any = None  # hubbub.workflows runner, set by the server

    # -- sdk.Services ------------------------------------------------------------------

    async def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        """A function publishes as the application's backend identity, held to its policy."""
        if self._backend_authz is not None and not self._backend_authz.can_publish(topic):
            raise NotAuthorized(f"the backend policy does not allow publishing to {topic!r}")
        await self._publish(topic, payload, qos, retain, self._backend)

    def table(self, name: str) -> Table:
        try:
            return self.tables[name]
        except KeyError:
            raise UsageError(f"no table {name!r} in this application") from None

    async def put_record(self, stream: str, partition_key: str, data: bytes) -> Any:
        if self.streams is None:
            raise UsageError("this application has no streams")
        return await self.streams.put_record(stream, partition_key, data)

    async def start_execution(self, state_machine: str, input: Any,
                              name: str | None) -> dict[str, Any]:
        if self.workflows is None:
            raise UsageError("this application has no state machines")
        result: dict[str, Any] = await self.workflows.start_execution(state_machine, input, name)
        return result

    async def create_state_machine(self, name: str, definition: Any,
                                   type: str = "STANDARD") -> dict[str, Any]:
        if self.workflows is None:
            raise UsageError("state machines are not running on this node")
        result: dict[str, Any] = await self.workflows.create_state_machine(name, definition,
                                                                           type)
        return result

    async def invoke(self, function: str, event: Any) -> Any:
        return await self.call(function_name(function), event)

    # -- rules.ActionSink --------------------------------------------------------------

    async def republish(self, topic: str, payload: bytes, qos: int) -> None:
        # A rule's republish runs with the rule's role, not a client's policy (IoT Core).
        await self._publish(topic, payload, qos, False, self._backend)

    async def put_item(self, table: str, item: dict[str, Any]) -> None:
        await self.table(table).put(item)

    # ``invoke`` above serves both: a rule's lambda action is an asynchronous invocation.

    async def call(self, function: str, event: Any) -> Any:
        token = sdk.current.set(self)
        try:
            return await self.functions.invoke(function, event)
        finally:
            sdk.current.reset(token)
