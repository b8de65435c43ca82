"""The glue between blocks: what rules' actions and functions' sdk calls reach.

``Services`` implements both ``hubbub.rules.ActionSink`` (republish, lambda, kinesis,
dynamoDBv2, stepFunctions) and ``hubbub.functions.sdk.Services`` (publish, table,
put_record, start_execution, invoke), on top of whichever engines the config chose.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from hubbub.broker.hooks import Authorizer, Identity
from hubbub.errors import NotAuthorized, UsageError
from hubbub.functions import sdk
from hubbub.functions.runtime import FunctionError, FunctionRuntime
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
        self._queued: set[asyncio.Task[None]] = set()  # asynchronous invocations running
        self.async_stats = {"queued": 0, "failed": 0, "throttled": 0}

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

    #: Asynchronous invocations waiting or running at once, over all functions, before a
    #: rule's lambda action is throttled (its errorAction runs, as for Lambda's 429).
    max_queued = 10_000

    async def invoke_event(self, function: str, event: Any) -> None:
        """A rule's lambda action: Lambda's asynchronous invoke (InvocationType Event), as
        IoT Core makes it. Returns once the event is queued, so a slow function never holds
        the publisher's PUBACK; the function's own errors are retried (its ``retries``) and
        logged with the request id, and do not reach the rule's errorAction. Raises, so the
        errorAction runs, only when the event cannot be queued: no such function, or
        ``max_queued`` invocations already waiting."""
        name = self.functions.spec(function_name(function)).name
        if len(self._queued) >= self.max_queued:
            self.async_stats["throttled"] += 1
            raise FunctionError(name, "-", "TooManyRequestsException",
                                f"{len(self._queued)} asynchronous invocations are queued")
        self.async_stats["queued"] += 1
        task = asyncio.get_running_loop().create_task(self._run_event(name, event))
        self._queued.add(task)
        task.add_done_callback(self._queued.discard)

    async def _run_event(self, name: str, event: Any) -> None:
        try:
            await self.call(name, event, asynchronous=True)
        except FunctionError as exc:  # already logged with its request id by the runtime
            self.async_stats["failed"] += 1
            log.error("asynchronous invocation of %s dropped after its retries: %s", name, exc)

    async def drain(self, timeout: float) -> None:
        """On shutdown: let queued asynchronous invocations finish for up to ``timeout``
        seconds, then cancel the rest (logged: Lambda would have kept them)."""
        if not self._queued:
            return
        _, pending = await asyncio.wait(set(self._queued), timeout=timeout)
        if pending:
            log.warning("shutdown: %d asynchronous invocations cancelled", len(pending))
            for task in pending:
                task.cancel()
            await asyncio.wait(pending)

    async def call(self, function: str, event: Any, *, asynchronous: bool = False) -> Any:
        token = sdk.current.set(self)
        try:
            return await self.functions.invoke(function, event, asynchronous=asynchronous)
        finally:
            sdk.current.reset(token)
