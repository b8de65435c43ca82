"""A rule's lambda action is Lambda's asynchronous invoke (IoT Core uses InvocationType
Event): queued at once, retried on the function's own errors, never holding the rule."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hubbub.broker.hooks import Identity
from hubbub.functions import sdk
from hubbub.functions.runtime import FunctionError, FunctionRuntime, FunctionSpec
from hubbub.services import Services


def services(*handlers: tuple[FunctionSpec, Any]) -> Services:
    runtime = FunctionRuntime()
    for spec, handler in handlers:
        runtime.register(spec, handler)

    async def publish(*_: Any) -> None:
        return None

    return Services(publish=publish, backend=Identity(principal_id="backend", client_id=""),
                    backend_authorizer=None, functions=runtime, tables={}, settings={})


async def test_returns_once_queued_and_the_handler_runs_later() -> None:
    gate, seen = asyncio.Event(), asyncio.Event()
    events: list[Any] = []

    async def handler(event: Any, ctx: Any) -> None:
        await gate.wait()
        events.append((event, sdk.current.get() is svc))
        seen.set()

    svc = services((FunctionSpec("f", "m:f"), handler))
    await svc.invoke_event("f", {"n": 1})  # returns although the handler is blocked
    assert events == [] and svc.async_stats["queued"] == 1
    gate.set()
    await asyncio.wait_for(seen.wait(), 5)
    assert events == [({"n": 1}, True)]  # the handler reaches the sdk as any function does


async def test_function_errors_are_retried_then_dropped_not_raised(
        caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    async def handler(event: Any, ctx: Any) -> None:
        calls.append(1)
        raise ValueError("boom")

    svc = services((FunctionSpec("f", "m:f", retries=2), handler))
    await svc.invoke_event("arn:aws:lambda:us-east-1:123456789012:function:f", {})
    await svc.drain(5)
    assert len(calls) == 3  # one attempt and its two retries
    assert svc.async_stats == {"queued": 1, "failed": 1, "throttled": 0}
    assert "dropped after its retries" in caplog.text


async def test_what_cannot_be_queued_raises_for_the_error_action() -> None:
    gate = asyncio.Event()

    async def handler(event: Any, ctx: Any) -> None:
        await gate.wait()

    svc = services((FunctionSpec("f", "m:f"), handler))
    with pytest.raises(FunctionError) as missing:
        await svc.invoke_event("nope", {})
    assert missing.value.error_type == "ResourceNotFoundException"
    svc.max_queued = 2
    await svc.invoke_event("f", 1)
    await svc.invoke_event("f", 2)
    with pytest.raises(FunctionError) as full:
        await svc.invoke_event("f", 3)
    assert full.value.error_type == "TooManyRequestsException"
    assert svc.async_stats["throttled"] == 1
    gate.set()
    await svc.drain(5)
    await svc.invoke_event("f", 4)  # room again once the queue drained
    await svc.drain(5)


async def test_drain_cancels_what_outlives_the_timeout(caplog: pytest.LogCaptureFixture) -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def handler(event: Any, ctx: Any) -> None:
        started.set()
        try:
            await asyncio.Event().wait()  # never set
        except asyncio.CancelledError:
            cancelled.set()
            raise

    svc = services((FunctionSpec("f", "m:f", timeout=60), handler))
    await svc.invoke_event("f", {})
    await asyncio.wait_for(started.wait(), 5)  # running: what drain must cancel
    await svc.drain(0)
    assert cancelled.is_set()
    assert "1 asynchronous invocations cancelled" in caplog.text
