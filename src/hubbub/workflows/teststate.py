"""TestState: run one state with an input, an optional mock, and report what happened.

The request and response have the shapes of Step Functions' TestState API (payloads are
JSON text, as on the wire), so what is tested here can be tested on AWS with the same
arguments. The state runs through the interpreter's own ``run_state`` and dialects (no
second evaluator); the dialects record each processing step into ``inspect`` when asked.
Unlike an execution, nothing is retried or followed: a matching retrier makes the answer
RETRIABLE, a matching catcher CAUGHT_ERROR, and ``nextState`` says where an execution
would go. Pure: tasks are requests (``RunTask``) answered by the mock or by the caller,
``Wait`` states do not wait, and the clock and randomness are injected.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Generator
from typing import Any

from hubbub.workflows import dialects
from hubbub.workflows.core import (
    Env,
    Request,
    RunTask,
    TaskFailed,
    TaskSucceeded,
    WaitUntil,
    drive_sync,
    error_matches,
)
from hubbub.workflows.errors import InvalidStateTest, StatesError
from hubbub.workflows.execution import ACCOUNT, REGION
from hubbub.workflows.history import History, io_details, iso
from hubbub.workflows.machine import (
    Frame,
    check_size,
    error_output,
    retry_delay,
    run_state,
)
from hubbub.workflows.mapstate import allowed_failures, map_settings
from hubbub.workflows.payload import dumps
from hubbub.workflows.testrequest import (
    CONTEXT_STATE_NAME,
    LEVELS,
    MOCKABLE,
    ErrorDetails,
    Mock,
    Plan,
    StateTestRequest,
    StateTestResponse,
)
from hubbub.workflows.testrequest import plan as read_request

__all__ = ["LEVELS", "StateTestRequest", "StateTestResponse", "test_state",
           "test_state_steps"]

#: Recorded text (TestState's, not the execution's "... for the Map run has been exceeded").
THRESHOLD_CAUSE = "The specified tolerated failure threshold was exceeded"
_NUMBERS = ("maxConcurrency", "toleratedFailureCount", "toleratedFailurePercentage")
TaskRunner = Callable[[RunTask], Any]


def test_state(request: StateTestRequest, *, task: TaskRunner | None = None,
               clock: Callable[[], float] = lambda: 0.0, rng: random.Random | None = None,
               account: str = ACCOUNT, region: str = REGION) -> StateTestResponse:
    """Run ``request`` to its answer. ``task`` performs Task states that have no mock (it
    returns the result or raises ``StatesError``); without it such a state is refused.
    Raises ``InvalidDefinition`` or ``InvalidStateTest`` for requests that cannot run."""

    def on_task(req: RunTask) -> TaskSucceeded | TaskFailed:
        if task is None:
            raise InvalidStateTest(
                f"the Task state {req.state_name!r} calls {req.resource!r}: give a mock "
                "(a result or an errorOutput) or something to run the task with")
        try:
            return TaskSucceeded(task(req))
        except StatesError as e:
            return TaskFailed(e.error, e.cause)

    gen = test_state_steps(request, clock=clock, rng=rng, account=account, region=region)
    result: StateTestResponse = drive_sync(gen, on_task, lambda _when: None)
    return result


test_state.__test__ = False  # type: ignore[attr-defined]  # an API, not a pytest test


def test_state_steps(request: StateTestRequest, *, clock: Callable[[], float],
                     rng: random.Random | None = None, account: str = ACCOUNT,
                     region: str = REGION) -> Generator[Request, Any, StateTestResponse]:
    """The same as a generator of requests (``RunTask``, ``RunBranches``) for drivers
    that perform tasks asynchronously (the ``hubbub sfn test-state`` command)."""
    plan = read_request(request)
    rng = rng or random.Random(0)
    ctx = plan.context if plan.context is not None else _context(
        plan, request.get("roleArn"), clock(), rng, account, region)
    env = Env(clock, History(clock), rng, ctx, task_tokens=False)
    frame = Frame(env, dict(plan.variables), plan.lang)
    # The events an execution would record (a Map's bookkeeping reads them); not reported.
    frame.event(f"{plan.state['Type']}StateEntered", io_details(plan.name, "input", plan.input))
    d = dialects.for_language(plan.lang, dict(ctx), frame.variables, rng)
    d.inspect = {}
    details: ErrorDetails = {}
    resp: StateTestResponse
    try:
        output, nxt = yield from _attempt(plan, d, frame)
        resp = {"status": "SUCCEEDED", "output": check_size(output, plan.name)}
        if nxt is not None:
            resp["nextState"] = nxt
    except StatesError as exc:
        resp = _failed(plan, exc, d, details)
    except (TypeError, ValueError, KeyError, AttributeError, IndexError,
            RecursionError) as exc:
        # As in an execution (execution.py): a shape the validator let through and the
        # interpreter did not expect fails visibly instead of crashing the caller.
        resp = {"status": "FAILED", "error": "States.Runtime",
                "cause": f"hubbub could not run this definition: {exc!r}"}
    if plan.level != "INFO":
        resp["inspectionData"] = _inspection(plan, d.inspect, frame.variables, details)
    return resp


test_state_steps.__test__ = False  # type: ignore[attr-defined]


def _attempt(plan: Plan, d: dialects.Dialect, frame: Frame
             ) -> Generator[Request, Any, tuple[Any, str | None]]:
    state, kind = plan.state, plan.state["Type"]
    if plan.mock is not None and kind in ("Map", "Parallel"):
        # A mocked Map/Parallel runs no iterations or branches: the mock is its result.
        if kind == "Map":
            _map_checks(plan, d)
        _raise_mock_error(plan.mock)
        out, assigned = d.finish(state, plan.input, plan.result)
        frame.variables.update(assigned)
        return out, None if state.get("End") else state.get("Next")
    gen = run_state(state, plan.name, plan.input, d, frame)
    try:
        req = next(gen)
        while True:
            outcome: Any
            if isinstance(req, WaitUntil):
                outcome = None  # TestState reports a Wait without waiting
            elif isinstance(req, RunTask) and plan.mock is not None:
                err = plan.mock.get("errorOutput")
                outcome = TaskFailed(err.get("error"), err.get("cause")) if err is not None \
                    else TaskSucceeded(plan.result)
            else:
                outcome = yield req
            req = gen.send(outcome)
    except StopIteration as stop:
        result: tuple[Any, str | None] = stop.value
        return result


def _map_checks(plan: Plan, d: dialects.Dialect) -> None:
    state, doc = plan.state, plan.input
    if "ItemReader" in state:  # the items come from a reader TestState cannot call
        items = plan.reader_items if plan.reader_items is not None else plan.result or []
    else:
        items = d.map_items(state, doc)[1]
    _, tol_count, tol_pct = map_settings(state, doc, d)
    if plan.mock is not None and "errorOutput" in plan.mock:
        return
    # Recorded: without a tolerance, failed iterations do not fail the mocked Map.
    tolerant = tol_count is not None or tol_pct is not None
    if tolerant and plan.failures > allowed_failures(len(items), tol_count, tol_pct):
        raise StatesError("States.ExceedToleratedFailureThreshold", THRESHOLD_CAUSE)


def _raise_mock_error(mock: Mock) -> None:
    err = mock.get("errorOutput")
    if err is not None:
        raise StatesError(err.get("error"), err.get("cause"))


def _failed(plan: Plan, exc: StatesError, d: dialects.Dialect,
            details: ErrorDetails) -> StateTestResponse:
    # RETRIABLE when a retrier has attempts left, CAUGHT_ERROR when a catcher takes it.
    state = plan.state
    resp: StateTestResponse = {"status": "FAILED", **_error_fields(exc)}
    for i, retrier in enumerate(state.get("Retry", [])):
        if error_matches(retrier.get("ErrorEquals", []), exc.error):
            details["retryIndex"] = i
            if plan.retries < retrier.get("MaxAttempts", 3):
                delay = retry_delay(retrier, plan.retries)
                details["retryBackoffIntervalSeconds"] = int(delay) if delay.is_integer() \
                    else delay
                return {**resp, "status": "RETRIABLE"}
            break  # the first matching retrier decides, as in an execution
    for i, catcher in enumerate(state.get("Catch", [])):
        if error_matches(catcher.get("ErrorEquals", []), exc.error):
            details["catchIndex"] = i
            try:
                output = check_size(d.catch_output(catcher, plan.input, error_output(exc)),
                                    plan.name)
            except StatesError as late:  # e.g. a ResultPath the input cannot take
                return {"status": "FAILED", **_error_fields(late)}
            return {**resp, "status": "CAUGHT_ERROR", "output": output,
                    "nextState": catcher["Next"]}
    return resp


def _error_fields(exc: StatesError) -> StateTestResponse:
    out: StateTestResponse = {}
    if exc.error is not None:
        out["error"] = exc.error
    if exc.cause is not None:
        out["cause"] = exc.cause
    return out


def _inspection(plan: Plan, noted: dict[str, Any] | None, variables: dict[str, Any],
                details: ErrorDetails) -> dict[str, Any]:
    data: dict[str, Any] = {"input": dumps(plan.input)}
    for key, value in (noted or {}).items():
        data[key] = value if key in _NUMBERS else dumps(value)
    if variables:
        data["variables"] = dumps(variables)
    if details:
        data["errorDetails"] = dict(details)
    return data


def _context(plan: Plan, role_arn: str | None, now: float, rng: random.Random,
             account: str, region: str) -> dict[str, Any]:
    # Recorded: TestState runs as an Express execution (no RedriveCount) of a machine of
    # its own; without roleArn, RoleArn is null.
    machine, name = "TestState", str(uuid.UUID(int=rng.getrandbits(128), version=4))
    state: dict[str, Any] = {"Name": CONTEXT_STATE_NAME, "EnteredTime": iso(now)}
    if plan.state["Type"] in MOCKABLE:
        state["RetryCount"] = plan.retries
    return {
        "Execution": {"Id": f"arn:aws:states:{region}:{account}:express:{machine}:{name}",
                      "Input": plan.input, "Name": name, "RoleArn": role_arn,
                      "StartTime": iso(now)},
        "StateMachine": {"Id": f"arn:aws:states:{region}:{account}:stateMachine:{machine}",
                         "Name": machine},
        "State": state,
    }
