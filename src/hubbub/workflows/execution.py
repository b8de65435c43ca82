"""State machines and executions: the public face of the pure interpreter.

``Execution.start()`` and ``Execution.resume(outcome)`` form the step function: each
returns the next ``Request`` for the outside world (or None when the execution is over),
and the history grows as it goes. ``StateMachine.run_sync`` drives it without any I/O
for tests, conformance and benchmarks. Pure.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hubbub.workflows.core import (
    Branch,
    Env,
    Outcome,
    Request,
    RunTask,
    TaskFailed,
    TaskSucceeded,
    drive_sync,
)
from hubbub.workflows.errors import StatesError
from hubbub.workflows.history import History, iso
from hubbub.workflows.machine import Frame, run_states
from hubbub.workflows.payload import dumps
from hubbub.workflows.validate import check

#: What ARNs in the context object and history name when nothing else is configured.
REGION, ACCOUNT = "local", "000000000000"


@dataclass(frozen=True)
class StateMachine:
    """A validated definition with a name; create with ``from_definition``."""

    name: str
    definition: dict[str, Any]
    account: str = ACCOUNT
    region: str = REGION
    role_arn: str = f"arn:aws:iam::{ACCOUNT}:role/hubbub"
    #: History events one execution may record before it fails with States.Runtime. AWS
    #: stops at 25,000; hubbub allows more so an inline Map can cover a big chat history,
    #: but still ends a definition that loops forever.
    max_events: int = 1_000_000
    #: STANDARD or EXPRESS: an Express execution's ARN is ``...:express:MACHINE:NAME:ID``
    #: and its context object has no RedriveCount (recorded: test_query_runtime_memory).
    type: str = "STANDARD"

    @property
    def arn(self) -> str:
        return f"arn:aws:states:{self.region}:{self.account}:stateMachine:{self.name}"

    @classmethod
    def from_definition(cls, definition: dict[str, Any] | str, name: str = "machine", *,
                        account: str = ACCOUNT, region: str = REGION,
                        role_arn: str | None = None, max_events: int = 1_000_000,
                        type: str = "STANDARD") -> StateMachine:
        """Parse and validate; raises ``InvalidDefinition`` naming every offending path."""
        if type not in ("STANDARD", "EXPRESS"):
            raise ValueError(f"a state machine type is STANDARD or EXPRESS, not {type!r}")
        return cls(name, check(definition), account, region,
                   role_arn or f"arn:aws:iam::{account}:role/hubbub", max_events, type)

    def execution(self, input: Any, *, name: str, clock: Callable[[], float],
                  rng: random.Random | None = None) -> Execution:
        return Execution(self, input, name, clock, rng or random.Random(0))

    def run_sync(self, input: Any, task: Callable[[RunTask], Any], *, name: str = "run",
                 start: float = 0.0) -> Execution:
        """Run to completion with a simulated clock: Waits advance it, nothing sleeps.

        ``task`` returns the task's output or raises ``StatesError`` to fail it.
        """
        now = [start]
        ex = self.execution(input, name=name, clock=lambda: now[0])

        def on_task(req: RunTask) -> TaskSucceeded | TaskFailed:
            try:
                return TaskSucceeded(task(req))
            except StatesError as e:
                return TaskFailed(e.error, e.cause)

        def on_wait(until: float) -> None:
            now[0] = max(now[0], until)

        ex.finish(drive_sync(ex.generator(), on_task, on_wait))
        return ex


def outcome_fields(status: str, output: Any, error: str | None,
                   cause: str | None) -> dict[str, Any]:
    """DescribeExecution's outcome: ``output`` once SUCCEEDED, ``error`` and ``cause`` if set."""
    d: dict[str, Any] = {"output": json.dumps(output)} if status == "SUCCEEDED" else {}
    if error is not None:
        d["error"] = error
    if cause is not None:
        d["cause"] = cause
    return d


@dataclass
class Execution:
    machine: StateMachine
    input: Any
    name: str
    clock: Callable[[], float]
    rng: random.Random
    status: str = "RUNNING"
    output: Any = None
    error: str | None = None
    cause: str | None = None
    start_date: float = 0.0
    stop_date: float | None = None
    history: History = field(init=False)
    _gen: Branch | None = field(default=None, init=False)
    _env: Env = field(init=False)

    def __post_init__(self) -> None:
        self.history = History(self.clock)
        self.start_date = self.clock()
        self._env = Env(self.clock, self.history, self.rng, self._context(),
                        max_events=self.machine.max_events)

    @property
    def arn(self) -> str:
        m = self.machine
        if m.type == "EXPRESS":
            # AWS adds an id of its own; derived from the names here so it is stable.
            run = uuid.UUID(int=random.Random(f"{m.arn}/{self.name}").getrandbits(128),
                            version=4)
            return f"arn:aws:states:{m.region}:{m.account}:express:{m.name}:{self.name}:{run}"
        return f"arn:aws:states:{m.region}:{m.account}:execution:{m.name}:{self.name}"

    @property
    def transitions(self) -> int:
        return self._env.transitions

    def _context(self) -> dict[str, Any]:
        # The context object ``$$`` (Step Functions developer guide, "Context object").
        execution = {"Id": self.arn, "Input": self.input, "Name": self.name,
                     "RoleArn": self.machine.role_arn, "StartTime": iso(self.start_date)}
        if self.machine.type == "STANDARD":  # Express executions cannot be redriven
            execution["RedriveCount"] = 0
        return {"Execution": execution,
                "StateMachine": {"Id": self.machine.arn, "Name": self.machine.name}}

    def generator(self) -> Branch:
        """The whole execution as one request generator; catches its terminal error."""
        defn = self.machine.definition
        self.history.add("ExecutionStarted", {
            "input": dumps(self.input), "inputDetails": {"truncated": False},
            "roleArn": self._context()["Execution"]["RoleArn"]})
        frame = Frame(self._env, {}, defn.get("QueryLanguage", "JSONPath"), first_prev=0)
        try:
            out = yield from run_states(defn, self.input, frame)
        except StatesError as exc:
            return exc
        except (TypeError, ValueError, KeyError, AttributeError, IndexError,
                RecursionError) as exc:
            # A definition shape the validator let through and the interpreter did not
            # expect: fail this execution visibly rather than leave it RUNNING forever.
            return StatesError("States.Runtime",
                               f"hubbub could not run this definition: {exc!r}")
        return _Done(out)

    def start(self) -> Request | None:
        """Begin; the first request, or None if the execution finished without one."""
        self._gen = self.generator()
        return self._step(None, first=True)

    def resume(self, outcome: Outcome) -> Request | None:
        """Feed the outcome of the last request; the next request or None when done."""
        return self._step(outcome, first=False)

    def _step(self, outcome: Outcome, first: bool) -> Request | None:
        if self._gen is None:
            raise RuntimeError("start() the execution first")
        try:
            return next(self._gen) if first else self._gen.send(outcome)
        except StopIteration as stop:
            self.finish(stop.value)
            return None

    def finish(self, result: Any) -> None:
        """Record the end: a ``_Done`` output or a ``StatesError`` (from ``generator()``)."""
        self.stop_date = self.clock()
        if isinstance(result, _Done):
            self.status, self.output = "SUCCEEDED", result.output
            self.history.add("ExecutionSucceeded", {
                "output": dumps(result.output), "outputDetails": {"truncated": False}},
                len(self.history.events))
        else:
            err = result if isinstance(result, StatesError) else StatesError(
                "States.Runtime", str(result))
            self.fail(err.error, err.cause)

    def fail(self, error: str | None, cause: str | None, kind: str = "ExecutionFailed") -> None:
        self.status = {"ExecutionTimedOut": "TIMED_OUT", "ExecutionAborted": "ABORTED"}.get(
            kind, "FAILED")
        self.error, self.cause = error, cause
        self.stop_date = self.clock()
        details = {k: v for k, v in (("error", error), ("cause", cause)) if v is not None}
        self.history.add(kind, details, len(self.history.events))

    def describe(self) -> dict[str, Any]:
        """DescribeExecution-shaped summary."""
        d: dict[str, Any] = {
            "executionArn": self.arn, "stateMachineArn": self.machine.arn, "name": self.name,
            "status": self.status, "input": json.dumps(self.input),
            "startDate": iso(self.start_date)}
        if self.stop_date is not None:
            d["stopDate"] = iso(self.stop_date)
        return d | outcome_fields(self.status, self.output, self.error, self.cause)


@dataclass(frozen=True)
class _Done:
    output: Any
