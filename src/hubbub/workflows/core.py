"""The pure ASL interpreter: requests out, outcomes in.

Rules of this file (the sans-IO contract):
- Nothing here imports asyncio, socket or time; the clock and the random source are
  injected. The interpreter never performs a Task, never sleeps and never runs a branch
  itself: it *yields a request* (``RunTask``, ``WaitUntil``, ``RunBranches``) and is
  resumed with the outcome (``TaskSucceeded``/``TaskFailed``, ``None``, a list of
  ``BranchOutcome``). ``Execution.start()``/``Execution.resume()`` is the step function
  from (execution state, outcome) to (next request, events so far).
- Branch work (a Map iteration, a Parallel branch) is itself such a generator, handed to
  the driver inside ``RunBranches`` so the driver decides concurrency.
- Any failure inside an execution is a ``StatesError`` with an ASL error name.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from hubbub.workflows.errors import StatesError
from hubbub.workflows.history import History


@dataclass(frozen=True)
class RunTask:
    """Run the function ``resource`` with ``input``; ``timeout`` in seconds or None."""

    resource: str
    input: Any
    timeout: float | None
    state_name: str


@dataclass(frozen=True)
class WaitUntil:
    """Resume (with None) once the clock reads ``when`` (seconds since the epoch)."""

    when: float


@dataclass(frozen=True)
class BranchOutcome:
    ok: bool
    value: Any = None
    error: str | None = None
    cause: str | None = None


@dataclass(frozen=True)
class RunBranches:
    """Drive each branch generator; at most ``max_concurrency`` at once (0 = unbounded).

    Resume with one ``BranchOutcome`` per branch (None for branches never started because
    ``stop_after_failures`` failures already happened).
    """

    branches: tuple[Branch, ...]
    max_concurrency: int
    stop_after_failures: int | None


@dataclass(frozen=True)
class TaskSucceeded:
    output: Any


@dataclass(frozen=True)
class TaskFailed:
    error: str | None
    cause: str | None = None


Request = RunTask | WaitUntil | RunBranches
Outcome = TaskSucceeded | TaskFailed | list[BranchOutcome | None] | None
Branch = Generator[Request, Any, Any]


@dataclass
class Env:
    """What one execution shares across all its branches: clock, randomness, history."""

    clock: Callable[[], float]
    history: History
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    context: dict[str, Any] = field(default_factory=dict)
    transitions: int = 0
    max_events: int = 1_000_000
    #: Give each Task a ``$$.Task.Token``. TestState gives none (recorded: its context
    #: object has no Task unless the caller's ``context`` has one).
    task_tokens: bool = True


def error_matches(names: list[str], error: str | None) -> bool:
    """ASL spec "Error names". States.Runtime never reaches here: it is not retriable and
    not catchable, even by name (conformance: test_catch_states_runtime)."""
    if error == "States.Runtime":
        return False
    for n in names:
        if n == error:
            return True
        if n == "States.ALL":
            return True
        if n == "States.TaskFailed" and error != "States.Timeout":
            return True
    return False


def branch_error(o: BranchOutcome) -> StatesError:
    """Re-raise a branch's failure in the parent; it already says where it happened."""
    return StatesError(o.error, o.cause, located=True)


def drive_sync(
    gen: Branch,
    on_task: Callable[[RunTask], TaskSucceeded | TaskFailed],
    on_wait: Callable[[float], None],
) -> Any:
    """Run a branch generator to the end, sequentially (tests, conformance, benchmarks)."""
    try:
        req = next(gen)
        while True:
            outcome: Outcome
            if isinstance(req, RunTask):
                outcome = on_task(req)
            elif isinstance(req, WaitUntil):
                on_wait(req.when)
                outcome = None
            else:
                results: list[BranchOutcome | None] = []
                failures = 0
                for b in req.branches:
                    if req.stop_after_failures is not None and failures > req.stop_after_failures:
                        b.close()
                        results.append(None)
                        continue
                    try:
                        results.append(BranchOutcome(True, drive_sync(b, on_task, on_wait)))
                    except StatesError as e:
                        failures += 1
                        results.append(BranchOutcome(False, None, e.error, e.cause))
                outcome = results
            req = gen.send(outcome)
    except StopIteration as stop:
        return stop.value
