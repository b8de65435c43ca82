"""The async runner: tasks, concurrency limits, timeouts, injected sleep, persistence."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from hubbub.workflows import StateMachine
from hubbub.workflows.runner import StateMachineRunner, function_name
from hubbub.workflows.store import (
    ExecutionRecord,
    ExecutionStore,
    MemoryExecutionStore,
    TableExecutionStore,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def map_machine(max_concurrency: int) -> StateMachine:
    return StateMachine.from_definition({"StartAt": "M", "States": {"M": {
        "Type": "Map", "MaxConcurrency": max_concurrency,
        "ItemProcessor": {"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": "arn:aws:lambda:local:0:function:slow",
                  "End": True}}}, "End": True}}}, name="maps")


async def test_map_runs_iterations_concurrently_up_to_max_concurrency() -> None:
    in_flight, peak = 0, 0
    release = asyncio.Event()
    started = asyncio.Event()

    async def invoke(resource: str, payload: Any) -> Any:
        nonlocal in_flight, peak
        assert function_name(resource) == "slow"
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight == 3:
            started.set()
        await release.wait()
        in_flight -= 1
        return payload * 10

    clock = FakeClock()
    runner = StateMachineRunner(invoke, clock, clock.sleep)
    task = runner.start(map_machine(3), list(range(8)), name="m1")
    await started.wait()
    assert in_flight == 3  # the fourth waits for a slot
    release.set()
    ex = await task
    assert ex.status == "SUCCEEDED" and ex.output == [i * 10 for i in range(8)]
    assert peak == 3


async def test_wait_uses_the_injected_sleep() -> None:
    clock = FakeClock()
    m = StateMachine.from_definition({"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 3600, "End": True}}})
    ex = await StateMachineRunner(_never, clock, clock.sleep).run(m, {"a": 1})
    assert ex.status == "SUCCEEDED" and clock.slept == [3600]


async def _never(resource: str, payload: Any) -> Any:
    await asyncio.Event().wait()


async def test_task_timeout_becomes_states_timeout_and_can_be_caught() -> None:
    m = StateMachine.from_definition({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "stuck", "TimeoutSeconds": 0.01, "End": True,
              "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "Caught"}]},
        "Caught": {"Type": "Pass", "End": True}}})
    ex = await StateMachineRunner(_never).run(m, {})
    assert ex.status == "SUCCEEDED"
    assert ex.output["Error"] == "States.Timeout"
    assert any(e["type"] == "TaskTimedOut" for e in ex.history.events)


async def test_function_exception_is_a_task_failure() -> None:
    async def boom(resource: str, payload: Any) -> Any:
        raise ValueError("bad value")

    m = StateMachine.from_definition({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "f", "End": True}}})
    ex = await StateMachineRunner(boom).run(m, {})
    assert (ex.status, ex.error, ex.cause) == ("FAILED", "ValueError", "bad value")


async def test_aclose_aborts_running_executions_and_records_it() -> None:
    store = MemoryExecutionStore()
    runner = StateMachineRunner(_never, store=store)
    m = StateMachine.from_definition({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "f", "End": True}}}, name="sm")
    runner.start(m, {}, name="x")
    await asyncio.sleep(0)  # let it start (no timing involved: one loop turn)
    await runner.aclose()
    rec = await store.get("x")
    assert rec is not None and rec.status == "ABORTED"


async def _roundtrip(store: ExecutionStore) -> None:
    async def double(resource: str, payload: Any) -> Any:
        return payload * 2

    clock = FakeClock()
    runner = StateMachineRunner(double, clock, clock.sleep, store=store)
    m = StateMachine.from_definition({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "double", "End": True}}}, name="sm")
    big = "x" * 120_000  # execution parts are split below the table's item size limit
    await runner.run(m, big, name="one")
    await runner.run(m, 21, name="two")
    rec = await store.get("one")
    assert rec is not None and rec.status == "SUCCEEDED" and rec.output == big * 2
    assert rec.input == big
    assert [e["type"] for e in rec.history][0] == "ExecutionStarted"
    assert rec.history[-1]["type"] == "ExecutionSucceeded"
    listed = await store.list(machine="sm")
    assert [r.name for r in listed] == ["one", "two"]
    assert await store.get("nope") is None
    assert await store.list(status="FAILED") == []


async def test_memory_store() -> None:
    await _roundtrip(MemoryExecutionStore())


async def test_table_store_memory_engine() -> None:
    from hubbub.tables.memory import MemoryTableEngine

    engine = MemoryTableEngine()
    await engine.open()
    await _roundtrip(TableExecutionStore(engine))


async def test_table_store_survives_restart(tmp_path: Path) -> None:
    from hubbub.tables.sqlite import SqliteTableEngine

    engine = SqliteTableEngine(tmp_path / "t.db")
    await engine.open()
    await TableExecutionStore(engine).put(ExecutionRecord(
        "e1", "sm", "FAILED", {"in": 1}, None, "Err", "why", 1.0, 2.0,
        [{"id": 1, "type": "ExecutionStarted"}]))
    await engine.close()
    engine = SqliteTableEngine(tmp_path / "t.db")
    await engine.open()
    try:
        rec = await TableExecutionStore(engine).get("e1")
        assert rec == ExecutionRecord("e1", "sm", "FAILED", {"in": 1}, None, "Err", "why", 1.0,
                                      2.0, [{"id": 1, "type": "ExecutionStarted"}])
    finally:
        await engine.close()


@pytest.mark.parametrize("resource,name", [
    ("words", "words"),
    ("arn:aws:lambda:us-east-1:123456789012:function:words", "words"),
    ("arn:aws:lambda:us-east-1:123456789012:function:words:live", "words"),
])
def test_function_name(resource: str, name: str) -> None:
    assert function_name(resource) == name


async def test_run_pipeline_describe_and_history() -> None:
    calls: list[str] = []

    async def invoke(resource: str, payload: Any) -> Any:
        calls.append(function_name(resource))
        return payload % 2 == 0

    runner = StateMachineRunner(invoke)
    ex = await runner.run_pipeline("take(2, filter(even, xs))", {"xs": list(range(100))},
                                   name="p1")
    assert ex.status == "SUCCEEDED" and ex.output == [0, 2]
    assert len(calls) == 4  # two chunks of two items, then it stops
    described = await runner.describe("p1")
    assert described is not None and described["status"] == "SUCCEEDED"
    assert described["output"] == "[0, 2]"
    events = await runner.history("p1")
    assert events is not None
    assert sum(e["type"] == "TaskScheduled" for e in events) == 4
    assert await runner.describe("nope") is None and await runner.history("nope") is None


async def test_abort_interrupted_after_a_restart() -> None:
    from hubbub.tables.memory import MemoryTableEngine

    engine = MemoryTableEngine()
    await engine.open()
    store = TableExecutionStore(engine)
    await store.put(ExecutionRecord("left", "sm", "RUNNING", {"a": 1}, start_date=5.0,
                                    history=[{"id": 1, "type": "ExecutionStarted"}]))
    await store.put(ExecutionRecord("done", "sm", "SUCCEEDED", {}, output=1))
    clock = FakeClock()
    runner = StateMachineRunner(_never, clock, clock.sleep, store=store)
    assert await runner.abort_interrupted() == 1
    rec = await store.get("left")
    assert rec is not None and rec.status == "ABORTED" and rec.error == "Hubbub.Restarted"
    assert rec.history[-1]["type"] == "ExecutionAborted" and rec.history[-1]["id"] == 2
    assert (await store.get("done")).status == "SUCCEEDED"  # type: ignore[union-attr]
    assert await runner.abort_interrupted() == 0
