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

import json
import random
import uuid
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypedDict

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
from hubbub.workflows.errors import Diagnostic, InvalidDefinition, InvalidStateTest, StatesError
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
from hubbub.workflows.validate import validate_definition

LEVELS = ("INFO", "DEBUG", "TRACE")
FIELD_VALIDATION_MODES = ("STRICT", "PRESENT", "NONE")
#: What the context object calls the tested state (recorded: AWS says "StateName" even
#: when ``stateName`` names the state).
CONTEXT_STATE_NAME = "StateName"
#: Recorded text (TestState's, not the execution's "... for the Map run has been exceeded").
THRESHOLD_CAUSE = "The specified tolerated failure threshold was exceeded"
_MOCKABLE = ("Task", "Map", "Parallel")
_NUMBERS = ("maxConcurrency", "toleratedFailureCount", "toleratedFailurePercentage")


class MockError(TypedDict, total=False):
    error: str
    cause: str


class Mock(TypedDict, total=False):
    result: str  # JSON text: what the Task (or the Map/Parallel as a whole) returns
    errorOutput: MockError
    fieldValidationMode: str


class StateConfiguration(TypedDict, total=False):
    retrierRetryCount: int
    errorCausedByState: str
    mapIterationFailureCount: int
    mapItemReaderData: str


class StateTestRequest(TypedDict, total=False):
    """TestState's request (``definition`` required; the others optional, JSON as text)."""

    definition: str
    input: str
    roleArn: str
    stateName: str
    inspectionLevel: str
    revealSecrets: bool
    variables: str
    context: str
    mock: Mock
    stateConfiguration: StateConfiguration


class ErrorDetails(TypedDict, total=False):
    catchIndex: int
    retryIndex: int
    retryBackoffIntervalSeconds: float


class StateTestResponse(TypedDict, total=False):
    """TestState's response: ``status`` SUCCEEDED, FAILED, RETRIABLE or CAUGHT_ERROR."""

    status: str
    output: str
    error: str
    cause: str
    nextState: str
    inspectionData: dict[str, Any]


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


@dataclass(frozen=True)
class _Plan:
    state: dict[str, Any]
    name: str
    lang: str
    input: Any
    level: str
    variables: dict[str, Any]
    context: dict[str, Any] | None
    mock: Mock | None
    result: Any  # the parsed mock result (when the mock has one)
    retries: int
    failures: int
    reader_items: list[Any] | None


def test_state_steps(request: StateTestRequest, *, clock: Callable[[], float],
                     rng: random.Random | None = None, account: str = ACCOUNT,
                     region: str = REGION) -> Generator[Request, Any, StateTestResponse]:
    """The same as a generator of requests (``RunTask``, ``RunBranches``) for drivers
    that perform tasks asynchronously (the ``hubbub sfn test-state`` command)."""
    plan = _plan(request)
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
    if plan.level != "INFO":
        resp["inspectionData"] = _inspection(plan, d.inspect, frame.variables, details)
    return resp


test_state_steps.__test__ = False  # type: ignore[attr-defined]


def _attempt(plan: _Plan, d: dialects.Dialect, frame: Frame
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


def _map_checks(plan: _Plan, d: dialects.Dialect) -> None:
    state, doc = plan.state, plan.input
    if "ItemReader" in state:  # the items come from a reader TestState cannot call
        count = len(plan.reader_items if plan.reader_items is not None else plan.result)
    else:
        count = len(d.map_items(state, doc)[1])
    max_conc, tol_count, tol_pct = map_settings(state, doc, d)
    if d.inspect is not None:
        d.inspect["maxConcurrency"] = int(max_conc)
        if tol_count is not None:
            d.inspect["toleratedFailureCount"] = int(tol_count)
        if tol_pct is not None:
            d.inspect["toleratedFailurePercentage"] = float(tol_pct)
    if plan.mock is not None and "errorOutput" in plan.mock:
        return
    # Recorded: without a tolerance, failed iterations do not fail the mocked Map.
    tolerant = tol_count is not None or tol_pct is not None
    if tolerant and plan.failures > allowed_failures(count, tol_count, tol_pct):
        raise StatesError("States.ExceedToleratedFailureThreshold", THRESHOLD_CAUSE)


def _raise_mock_error(mock: Mock) -> None:
    err = mock.get("errorOutput")
    if err is not None:
        raise StatesError(err.get("error"), err.get("cause"))


def _failed(plan: _Plan, exc: StatesError, d: dialects.Dialect,
            details: ErrorDetails) -> StateTestResponse:
    """RETRIABLE when a retrier has attempts left, CAUGHT_ERROR when a catcher takes it."""
    state = plan.state
    resp: StateTestResponse = {"status": "FAILED"}
    if exc.error is not None:
        resp["error"] = exc.error
    if exc.cause is not None:
        resp["cause"] = exc.cause
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
            output = d.catch_output(catcher, plan.input, error_output(exc))
            return {**resp, "status": "CAUGHT_ERROR",
                    "output": check_size(output, plan.name), "nextState": catcher["Next"]}
    return resp


def _inspection(plan: _Plan, noted: dict[str, Any] | None, variables: dict[str, Any],
                details: ErrorDetails) -> dict[str, Any]:
    data: dict[str, Any] = {"input": dumps(plan.input)}
    for key, value in (noted or {}).items():
        data[key] = value if key in _NUMBERS else dumps(value)
    if variables:
        data["variables"] = dumps(variables)
    if details:
        data["errorDetails"] = dict(details)
    return data


def _context(plan: _Plan, role_arn: str | None, now: float, rng: random.Random,
             account: str, region: str) -> dict[str, Any]:
    # Recorded: TestState runs as an Express execution (no RedriveCount) of a machine of
    # its own; without roleArn, RoleArn is null.
    machine, name = "TestState", str(uuid.UUID(int=rng.getrandbits(128), version=4))
    state: dict[str, Any] = {"Name": CONTEXT_STATE_NAME, "EnteredTime": iso(now)}
    if plan.state["Type"] in _MOCKABLE:
        state["RetryCount"] = plan.retries
    return {
        "Execution": {"Id": f"arn:aws:states:{region}:{account}:express:{machine}:{name}",
                      "Input": plan.input, "Name": name, "RoleArn": role_arn,
                      "StartTime": iso(now)},
        "StateMachine": {"Id": f"arn:aws:states:{region}:{account}:stateMachine:{machine}",
                         "Name": machine},
        "State": state,
    }


# -- reading and checking the request -------------------------------------------------


def _plan(request: Mapping[str, Any]) -> _Plan:
    if not isinstance(request, Mapping) or "definition" not in request:
        raise InvalidStateTest("a TestState request needs a definition")
    state, name, lang = _locate(request["definition"], request.get("stateName"))
    level = request.get("inspectionLevel") or "INFO"
    if level not in LEVELS:
        raise InvalidStateTest(f"inspectionLevel must be one of {', '.join(LEVELS)}, "
                               f"not {level!r}")
    doc = _json(request.get("input"), "input", default={})
    variables = _json(request.get("variables"), "variables", default={})
    context = _json(request.get("context"), "context", default=None)
    for value, field in ((variables, "variables"), (context, "context")):
        if value is not None and not isinstance(value, dict):
            raise InvalidStateTest(f"{field} must be a JSON object")
    mock, result = _mock(request.get("mock"), state)
    conf = request.get("stateConfiguration") or {}
    if not isinstance(conf, Mapping):
        raise InvalidStateTest("stateConfiguration must be an object")
    retries = _count(conf, "retrierRetryCount")
    failures = _count(conf, "mapIterationFailureCount")
    reader = _json(conf.get("mapItemReaderData"), "stateConfiguration.mapItemReaderData",
                   default=None)
    if failures and state["Type"] != "Map":
        raise InvalidStateTest("mapIterationFailureCount applies to Map states only")
    if reader is not None and ("ItemReader" not in state or not isinstance(reader, list)):
        raise InvalidStateTest("mapItemReaderData must be a JSON array, for a Map state "
                               "with an ItemReader")
    caused_by = conf.get("errorCausedByState")
    if caused_by is not None and caused_by not in _nested_names(state):
        raise InvalidStateTest(f"errorCausedByState {caused_by!r} is not a state inside "
                               f"the tested {state['Type']} state")
    return _Plan(state, name, state.get("QueryLanguage", lang), doc, level, variables,
                 context, mock, result, retries, failures, reader)


def _nested_names(state: dict[str, Any]) -> set[str]:
    """Names of the states inside a Map or Parallel, at any depth."""
    names: set[str] = set()
    for block in [state.get("ItemProcessor") or state.get("Iterator"),
                  *(state.get("Branches") or [])]:
        if isinstance(block, dict) and isinstance(block.get("States"), dict):
            for name, inner in block["States"].items():
                names.add(name)
                if isinstance(inner, dict):
                    names |= _nested_names(inner)
    return names


def _locate(definition: Any, state_name: Any) -> tuple[dict[str, Any], str, str]:
    """(state, name, query language it inherits) of the state to test."""
    defn = definition
    if isinstance(defn, str):
        try:
            defn = json.loads(defn)
        except json.JSONDecodeError:
            raise InvalidDefinition(validate_definition(defn)) from None
    if not isinstance(defn, dict):
        raise InvalidDefinition([Diagnostic("SCHEMA_VALIDATION_FAILED",
                                            "Definition must be a valid JSON object", "/")])
    if "States" in defn:  # a whole state machine: test one of its states
        problems = validate_definition(defn)
        if problems:
            raise InvalidDefinition(problems)
        name = state_name if state_name is not None else defn["StartAt"]
        found = _find(defn, name, "JSONPath")
        if found is None:
            raise InvalidStateTest(f"stateName {name!r} is not a state of the definition")
        return found[0], name, found[1]
    if state_name is not None:
        raise InvalidStateTest("stateName needs a whole state machine definition "
                               "(StartAt and States), not a single state")
    _check_single(defn)
    return defn, CONTEXT_STATE_NAME, "JSONPath"


def _find(block: dict[str, Any], name: str, lang: str) -> tuple[dict[str, Any], str] | None:
    lang = block.get("QueryLanguage", lang)
    for here, state in block["States"].items():
        if here == name:
            return state, lang
        own = state.get("QueryLanguage", lang)
        for inner in [state.get("ItemProcessor") or state.get("Iterator"),
                      *(state.get("Branches") or [])]:
            if isinstance(inner, dict):
                found = _find(inner, name, own)
                if found is not None:
                    return found
    return None


def _check_single(state: dict[str, Any]) -> None:
    """Validate one state as the validator validates machines: wrapped in a machine whose
    other states are the targets it names (a single state may point anywhere)."""
    targets = [state.get("Next"), state.get("Default")]
    targets += [r.get("Next") for r in _dicts(state.get("Choices"))]
    targets += [c.get("Next") for c in _dicts(state.get("Catch"))]
    me = CONTEXT_STATE_NAME
    states: dict[str, Any] = {t: {"Type": "Succeed"} for t in targets if isinstance(t, str)}
    states[me] = state
    machine = {"StartAt": me, "States": states}
    if state.get("QueryLanguage") == "JSONata":
        machine["QueryLanguage"] = "JSONata"
    prefix = f"/States/{me}"
    problems = [replace(p, location=p.location[len(prefix):] or "/")
                if p.location.startswith(prefix) else p
                for p in validate_definition(machine)]
    if problems:
        raise InvalidDefinition(problems)


def _dicts(v: Any) -> list[dict[str, Any]]:
    return [x for x in v if isinstance(x, dict)] if isinstance(v, list) else []


def _mock(mock: Any, state: dict[str, Any]) -> tuple[Mock | None, Any]:
    if mock is None:
        return None, None
    if not isinstance(mock, Mapping):
        raise InvalidStateTest("mock must be an object with result or errorOutput")
    if state["Type"] not in _MOCKABLE:
        raise InvalidStateTest(f"a {state['Type']} state cannot be mocked; only Task, Map "
                               "and Parallel states can")
    if ("result" in mock) == ("errorOutput" in mock):
        raise InvalidStateTest("mock needs exactly one of result and errorOutput")
    mode = mock.get("fieldValidationMode", "STRICT")
    if mode not in FIELD_VALIDATION_MODES:
        raise InvalidStateTest(f"fieldValidationMode must be one of "
                               f"{', '.join(FIELD_VALIDATION_MODES)}, not {mode!r}")
    err = mock.get("errorOutput")
    if err is not None and (not isinstance(err, Mapping) or not all(
            isinstance(err.get(k, ""), str) for k in ("error", "cause"))):
        raise InvalidStateTest("mock.errorOutput must be an object with string error, cause")
    result = _json(mock.get("result"), "mock.result", default=None)
    if "result" in mock and state["Type"] in ("Map", "Parallel") and not isinstance(
            result, list):
        raise InvalidStateTest(f"the mock result of a {state['Type']} state must be a "
                               "JSON array (one result per iteration or branch)")
    return dict(mock), result  # type: ignore[return-value]


def _json(text: Any, field: str, *, default: Any) -> Any:
    if text is None:
        return default
    if not isinstance(text, str):
        raise InvalidStateTest(f"{field} must be JSON text")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidStateTest(f"{field} is not valid JSON: {exc}") from None


def _count(conf: Mapping[str, Any], key: str) -> int:
    v = conf.get(key, 0)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise InvalidStateTest(f"stateConfiguration.{key} must be a whole number >= 0")
    return v
