"""The asyncio shell around the pure interpreter.

It answers the interpreter's requests: ``RunTask`` by awaiting ``invoke_task(resource,
input)`` under the state's timeout, ``WaitUntil`` by awaiting the injected ``sleep``,
``RunBranches`` by driving Map iterations / Parallel branches concurrently (at most
MaxConcurrency at once). Executions are saved to an ``ExecutionStore`` when they start
and when they end. Background executions are tracked and cancelled by ``aclose``.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from hubbub.workflows.core import (
    Branch,
    BranchOutcome,
    RunBranches,
    RunTask,
    TaskFailed,
    TaskSucceeded,
    WaitUntil,
)
from hubbub.workflows.errors import StatesError
from hubbub.workflows.execution import Execution, StateMachine
from hubbub.workflows.history import iso
from hubbub.workflows.store import ExecutionRecord, ExecutionStore, MemoryExecutionStore

InvokeTask = Callable[[str, Any], Awaitable[Any]]


def function_name(resource: str) -> str:
    """The hubbub function a Task's Resource names: a bare name or a Lambda ARN
    (``arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]``)."""
    if resource.startswith("arn:aws:lambda:"):
        parts = resource.split(":")
        if len(parts) >= 7 and parts[5] == "function":
            return parts[6]
    return resource


class StateMachineRunner:
    """Runs state machines; ``invoke_task(resource, input)`` performs Task states."""

    def __init__(self, invoke_task: InvokeTask, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 store: ExecutionStore | None = None, rng: random.Random | None = None
                 ) -> None:
        self.invoke_task = invoke_task
        self.clock = clock
        self.sleep = sleep
        self.store: ExecutionStore = store if store is not None else MemoryExecutionStore()
        self.rng = rng or random.Random()
        self._tasks: set[asyncio.Task[Execution]] = set()

    async def run(self, machine: StateMachine, input: Any, *, name: str | None = None
                  ) -> Execution:
        """Run an execution to its end (any status) and return it."""
        ex = machine.execution(input, name=name or str(uuid.uuid4()), clock=self.clock,
                               rng=random.Random(self.rng.getrandbits(64)))
        await self.store.put(ExecutionRecord.of(ex))
        timeout = machine.definition.get("TimeoutSeconds")
        try:
            result = await asyncio.wait_for(self.drive(ex.generator()), timeout)
            ex.finish(result)
        except TimeoutError:
            ex.fail("States.Timeout", f"Execution timed out after {timeout} seconds",
                    kind="ExecutionTimedOut")
        except asyncio.CancelledError:
            ex.fail(None, None, kind="ExecutionAborted")
            await self.store.put(ExecutionRecord.of(ex))
            raise
        await self.store.put(ExecutionRecord.of(ex))
        return ex

    async def run_pipeline(self, pipeline: Any, input: Any, *, name: str | None = None,
                           resource: Callable[[str], str] = lambda n: n,
                           chunk_size: int | None = None) -> Execution:
        """Translate a pipeline (text, builder or node) to ASL and run it to its end."""
        from hubbub.workflows import pipeline as pl

        defn = pl.translate(pipeline, resource=resource, chunk_size=chunk_size)
        machine = StateMachine.from_definition(defn, name="pipeline")
        return await self.run(machine, input, name=name)

    async def describe(self, name: str) -> dict[str, Any] | None:
        """A stored execution's summary (DescribeExecution's shape), or None."""
        rec = await self.store.get(name)
        return rec.describe() if rec is not None else None

    async def history(self, name: str) -> list[dict[str, Any]] | None:
        """A stored execution's events (GetExecutionHistory's shape), or None."""
        rec = await self.store.get(name)
        return rec.history if rec is not None else None

    async def abort_interrupted(self) -> int:
        """At startup: executions a previous process left RUNNING can't be resumed (their
        interpreter state lived in memory), so record them as ABORTED. Returns how many."""
        import dataclasses

        n = 0
        for summary in await self.store.list(status="RUNNING"):
            rec = await self.store.get(summary.name)
            if rec is None:
                continue
            now = self.clock()
            event = {"id": len(rec.history) + 1, "previousEventId": len(rec.history),
                     "timestamp": iso(now), "type": "ExecutionAborted",
                     "executionAbortedEventDetails": {
                         "error": "Hubbub.Restarted",
                         "cause": "hubbub restarted while the execution was running"}}
            await self.store.put(dataclasses.replace(
                rec, status="ABORTED", error="Hubbub.Restarted",
                cause="hubbub restarted while the execution was running", stop_date=now,
                history=[*rec.history, event]))
            n += 1
        return n

    def start(self, machine: StateMachine, input: Any, *, name: str | None = None
              ) -> asyncio.Task[Execution]:
        """Start in the background; the task is tracked until it ends or ``aclose``."""
        task = asyncio.create_task(self.run(machine, input, name=name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def aclose(self) -> None:
        """Abort every background execution and wait for them to record it."""
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def drive(self, gen: Branch) -> Any:
        """Run a request generator (an execution, a branch, a TestState) to its end,
        performing its requests; a branch's StatesError propagates."""
        try:
            req = next(gen)
            while True:
                if isinstance(req, RunTask):
                    outcome: Any = await self._task(req)
                elif isinstance(req, WaitUntil):
                    await self.sleep(max(0.0, req.when - self.clock()))
                    outcome = None
                else:
                    outcome = await self._branches(req)
                req = gen.send(outcome)
        except StopIteration as stop:
            return stop.value

    async def _task(self, req: RunTask) -> TaskSucceeded | TaskFailed:
        try:
            out = await asyncio.wait_for(self.invoke_task(req.resource, req.input), req.timeout)
        except TimeoutError:
            return TaskFailed("States.Timeout")  # AWS gives a timeout no cause
        except StatesError as e:
            return TaskFailed(e.error, e.cause)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a function's error becomes a task failure, like Lambda's
            return TaskFailed(type(e).__name__, str(e))
        return TaskSucceeded(out)

    async def _branches(self, req: RunBranches) -> list[BranchOutcome | None]:
        results: list[BranchOutcome | None] = [None] * len(req.branches)
        limit = req.max_concurrency or len(req.branches) or 1
        gate = asyncio.Semaphore(limit)
        failures = 0

        async def one(i: int, gen: Branch) -> None:
            nonlocal failures
            async with gate:
                if req.stop_after_failures is not None and failures > req.stop_after_failures:
                    gen.close()  # fail fast: never started
                    return
                try:
                    results[i] = BranchOutcome(True, await self.drive(gen))
                except StatesError as e:
                    failures += 1
                    results[i] = BranchOutcome(False, None, e.error, e.cause)

        async with asyncio.TaskGroup() as tg:
            for i, g in enumerate(req.branches):
                tg.create_task(one(i, g))
        return results
