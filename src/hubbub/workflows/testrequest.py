"""TestState's request and response (the shapes of Step Functions' TestState API, JSON
payloads as text) and the reading of a request into a ``Plan``: the state to test, its
query language, the parsed input, mock, variables and context. Every problem is an
``InvalidDefinition`` (the definition) or an ``InvalidStateTest`` (the rest). Pure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, TypedDict

from hubbub.workflows.errors import Diagnostic, InvalidDefinition, InvalidStateTest
from hubbub.workflows.validate import validate_definition

LEVELS = ("INFO", "DEBUG", "TRACE")
FIELD_VALIDATION_MODES = ("STRICT", "PRESENT", "NONE")
#: What the context object calls the tested state (recorded: AWS says "StateName" even
#: when ``stateName`` names the state).
CONTEXT_STATE_NAME = "StateName"
MOCKABLE = ("Task", "Map", "Parallel")


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


@dataclass(frozen=True)
class Plan:
    """A request read and checked: what ``test_state_steps`` runs."""

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


def plan(request: Mapping[str, Any]) -> Plan:
    """Read and check a TestState request."""
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
    return Plan(state, name, state.get("QueryLanguage", lang), doc, level, variables,
                 context, mock, result, retries, failures, reader)


def _nested_names(state: dict[str, Any]) -> set[str]:
    # Names of the states inside a Map or Parallel, at any depth.
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
    # (state, name, query language it inherits) of the state to test.
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
    # Validate one state as the validator validates machines: wrapped in a machine whose
    # other states are the targets it names (a single state may point anywhere).
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
    if state["Type"] not in MOCKABLE:
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
