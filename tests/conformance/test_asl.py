"""ASL conformance: hubbub's interpreter against executions recorded on AWS Step Functions.

Reads ``<repo>/../shared/conformance/asl/cases.jsonl`` (see its README); skips when absent.
Judged: every ``execution`` case without masked expectations (offline ones run as is;
Task cases replay ``recorded_task_results`` or run the tiny ``lambdas`` handlers), and all
``invalid_definition`` / ``validate_definition`` cases. Causes are compared exactly,
including the "entered at the event id #N" numbers (we number events as AWS does).
Cases we do not pass are xfail(strict=True) with their reason, grouped in ``KNOWN``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from functools import cache
from typing import Any

import pytest

from hubbub.workflows import StateMachine, validate_definition
from hubbub.workflows.core import RunTask
from hubbub.workflows.errors import InvalidDefinition, StatesError
from hubbub.workflows.teststate import StateTestRequest, test_state

from .locate import conformance_dir

CASES = conformance_dir() / "asl" / "cases.jsonl"

# Known failures, by cause: case id -> reason. Kept strict so a fix shows up as XPASS.
_ITEM_READER = "Map ItemReader reads items from S3 objects (CSV/JSON) that were not recorded; " \
    "hubbub's Map is inline only"
KNOWN: dict[int, str] = {
    **{i: _ITEM_READER for i in (37, 927, 928, 929, 930, 931, 932, 933, 934, 935, 936, 937,
                                 938, 939, 940, 941, 942, 943, 944, 945, 947, 948, 1307)},
    916: "ResultWriter (writing Map results to S3) is not supported",
    1315: "ItemReader/ItemBatcher (S3-backed distributed Map) is not supported",
    **{i: "the case names neither a fake handler nor a recorded result for its Lambda (the "
          "expected cause is the Lambda Python runtime's error with its stack trace)"
       for i in (633, 634)},
    **{i: "TestState calls a real Lambda function without a mock; the case records neither "
          "its handler nor (for lambda:invoke) the Lambda service's response headers"
       for i in range(1169, 1175)},
}


# Event histories (type, id, previousEventId) that differ from the recording, by cause.
_INTERLEAVE = "AWS interleaves the events of concurrently running Parallel branches by " \
    "timing; run_sync runs branches one after another"
KNOWN_HISTORY: dict[int, str] = {
    **{i: _INTERLEAVE for i in (9, 828, 829, 834)},
    836: "the recording lacks the inner Parallel's ParallelStateExited event",
    1039: "the recording lists the events in reverse order",
}


# The account, region and role the recordings were made with (their masks expect them).
RECORDED_ACCOUNT = {"account": "111111111111", "region": "us-east-1",
                    "role_arn": "arn:aws:iam::111111111111:role/snf-role"}


@cache
def load_cases() -> list[dict[str, Any]]:
    if not CASES.exists():
        return []
    with CASES.open() as f:
        return [json.loads(line) for line in f]


def skip_reason(case: dict[str, Any]) -> str | None:
    return None


# -- running one case ----------------------------------------------------------------


def _handler_result(handler: str, event: Any) -> Any:
    if handler == "id_function.py" or handler == "echo_function.py":
        return event
    if handler == "return_decorated_input.py":
        return "input-event-" + str(event)
    if handler.startswith("raise"):
        raise StatesError("Exception", json.dumps({"errorMessage": "Some exception was raised.",
                                                   "errorType": "Exception"}))
    raise StatesError("Hubbub.NoHandler", f"no fake for handler {handler}")


def _task_runner(case: dict[str, Any]) -> Any:
    recorded: Iterator[dict[str, Any]] = iter(case.get("recorded_task_results") or [])
    lambdas: dict[str, str] = case.get("lambdas") or {}

    def run(req: RunTask) -> Any:
        rec = next(recorded, None)
        if rec is not None:
            if rec["type"].endswith("Succeeded"):
                return rec.get("output")
            cause = rec.get("cause")
            if cause is not None and not isinstance(cause, str):
                cause = json.dumps(cause, separators=(",", ":"))
            raise StatesError(rec.get("error"), cause)
        name = req.resource
        if name == "arn:aws:states:::lambda:invoke" and isinstance(req.input, dict):
            fn = req.input.get("FunctionName", "")
            handler = next((h for arn, h in lambdas.items() if arn.endswith(str(fn))), None)
            if handler is None:
                raise StatesError("Hubbub.NoHandler", f"no lambda {fn}")
            return {"Payload": _handler_result(handler, req.input.get("Payload")),
                    "StatusCode": 200}
        if name in lambdas:
            return _handler_result(lambdas[name], req.input)
        raise StatesError("Hubbub.NoHandler", f"no recording for task {name}")

    return run


def run_case(case: dict[str, Any]) -> tuple[Any, Any]:
    """(what we produced, what AWS produced), both normalised for comparison."""
    kind, expected = case["kind"], case["expected"]
    if kind == "test_state":
        got, want = _normal(_wire(_test_state(case))), _normal(_wire(expected))
        if case["expected_has_placeholders"]:
            return _unmask(got, want, case)
        return got, want
    if kind == "execution":
        got, want = _normal(_execute(case)), _normal(_outcome(expected))
        if case["expected_has_placeholders"]:
            return _unmask(got, want, case)
        return got, want
    if kind == "validate_definition":
        mtype = "EXPRESS" if "express" in case["source"].lower() else "STANDARD"
        diags = validate_definition(case["definition"], machine_type=mtype)
        got = {"result": "FAIL" if diags else "OK",
               "diagnostics": [{"code": d.code, "message": d.message, "location": d.location}
                               for d in diags[:1]]}
        want = {"result": expected["result"],
                "diagnostics": [{k: d.get(k, "") for k in ("code", "message", "location")}
                                for d in expected["diagnostics"][:1]]}
        return got, want
    # invalid_definition: the AWS message must name one of our diagnostics exactly.
    err = expected["create_error"]
    text = err.get("Error", {}).get("Message") or err.get("exception_value", "")
    mtype = "EXPRESS" if "express" in case["source"].lower() else "STANDARD"
    diags = validate_definition(case["definition"], machine_type=mtype)
    hit = [str(d) for d in diags if str(d) in text or f"Args=[{d.message!r}]" in text]
    return bool(hit), True


def _run(case: dict[str, Any]) -> Any:
    start = datetime.strptime(case["recorded_date"], "%d-%m-%Y, %H:%M:%S").timestamp()
    mtype = "EXPRESS" if str(case.get("execution_type")).startswith("EXPRESS") else "STANDARD"
    machine = StateMachine.from_definition(case["definition"], **RECORDED_ACCOUNT, type=mtype)
    return machine.run_sync(json.loads(case["input"]), _task_runner(case), start=start)


def _test_state(case: dict[str, Any]) -> dict[str, Any]:
    request: StateTestRequest = {"definition": case["definition"], "input": case["input"],
                                 **case["test_state_args"]}  # type: ignore[typeddict-item]
    # The recordings leave roleArn out of the arguments; every test passed one except
    # test_state_with_variables (its recording shows RoleArn null, as AWS gives without).
    if "test_state_with_variables" not in case["source"]:
        request["roleArn"] = RECORDED_ACCOUNT["role_arn"]
    start = datetime.strptime(case["recorded_date"], "%d-%m-%Y, %H:%M:%S").timestamp()
    try:
        return dict(test_state(request, task=_task_runner(case), clock=lambda: start,
                               account=RECORDED_ACCOUNT["account"],
                               region=RECORDED_ACCOUNT["region"]))
    except InvalidDefinition as exc:
        return {"status": "INVALID", "error": str(exc)}


def _wire(d: dict[str, Any]) -> dict[str, Any]:
    """TestState returns payloads as JSON text; the recordings parsed some of them (and not
    others): compare every payload as the JSON value it stands for."""
    out = {k: _parsed(v) if k == "output" else v for k, v in d.items()}
    if isinstance(d.get("inspectionData"), dict):
        out["inspectionData"] = {k: _parsed(v) for k, v in d["inspectionData"].items()}
    return out


def _parsed(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            return v
    return v


def history_matches(case: dict[str, Any]) -> bool:
    """Our events' (type, id, previousEventId) equal the recorded history's."""
    ex = _run(case)
    got = [(e["type"], e["id"], e["previousEventId"]) for e in ex.history.events]
    return got == [(e["type"], e["id"], e["previousEventId"]) for e in case["recorded_events"]]


def history_cases() -> list[dict[str, Any]]:
    return [c for c in load_cases() if c["kind"] == "execution" and c["offline"]
            and not c["expected_has_placeholders"] and c.get("recorded_events")]


def _execute(case: dict[str, Any]) -> dict[str, Any]:
    try:
        ex = _run(case)
    except InvalidDefinition as exc:
        return {"status": "INVALID", "error": str(exc)}
    out: dict[str, Any] = {"status": ex.status}
    if ex.status == "SUCCEEDED":
        out["output"] = ex.output
    else:
        out.update({k: v for k, v in (("error", ex.error), ("cause", ex.cause)) if v is not None})
    return out


def _outcome(expected: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in expected.items() if k in ("status", "output", "error", "cause")}


def _normal(d: dict[str, Any]) -> Any:
    """Numbers compare by value (1 == 1.0); causes compare as JSON when they parse."""
    d = dict(d)
    if isinstance(d.get("cause"), str):
        try:
            d["cause"] = json.loads(d["cause"])
        except json.JSONDecodeError:
            pass
    return json.loads(json.dumps(d), parse_int=float)


# -- masked expectations ---------------------------------------------------------------
# The recordings went through LocalStack's snapshot masks: regexes replaced values such as
# bucket names in the text, JSONPath masks replaced fields with a word ("start-time"), and
# generic masks replaced uuids, ARN parts and dates with placeholders ("<uuid:1>", "date").
# We apply the case's regex masks to our result, then let placeholders match any string.

_WILD_WORDS = {"date", "timestamp"}
_PLACEHOLDER = re.compile(r"<[A-Za-z0-9_\-]+(?::\d+)?>")


def _unmask(got: Any, want: Any, case: dict[str, Any]) -> tuple[Any, Any]:
    text = json.dumps(got)
    words = set(_WILD_WORDS)
    for m in case.get("snapshot_masks") or []:
        if m.get("type") == "RegexTransformer" and "regex" in m:
            text = re.sub(m["regex"], m["replacement"].replace("\\", "\\\\"), text)
        elif m.get("type") == "JsonpathTransformer":
            words.add(m["replacement"])
    try:
        got = json.loads(text)
    except json.JSONDecodeError:
        return got, want
    return (want if _loose(got, want, words) else got), want


def _loose(got: Any, want: Any, words: set[str]) -> bool:
    if isinstance(want, str):
        if want in words:
            return True
        if isinstance(got, str) and want.startswith(("{", "[")):
            try:
                return _loose(json.loads(got), json.loads(want), words)
            except json.JSONDecodeError:
                pass
        if _PLACEHOLDER.search(want) and isinstance(got, str):
            parts = _PLACEHOLDER.split(want)
            return re.fullmatch(".+?".join(re.escape(p) for p in parts), got, re.S) is not None
        return bool(got == want)
    if isinstance(want, dict):
        return isinstance(got, dict) and got.keys() == want.keys() and all(
            _loose(got[k], want[k], words) for k in want)
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(
            _loose(g, w, words) for g, w in zip(got, want, strict=True))
    return bool(got == want)


def passes(case: dict[str, Any]) -> bool:
    try:
        got, want = run_case(case)
    except Exception:
        return False
    return bool(got == want)


# -- tests ---------------------------------------------------------------------------


def _params() -> list[Any]:
    out = []
    for case in load_cases():
        marks = []
        reason = skip_reason(case)
        if reason:
            marks.append(pytest.mark.skip(reason=reason))
        elif case["id"] in KNOWN:
            marks.append(pytest.mark.xfail(strict=True, reason=KNOWN[case["id"]]))
        out.append(pytest.param(case, id=f"{case['id']}-{case['kind']}", marks=marks))
    return out


@pytest.mark.skipif(not CASES.exists(), reason=f"conformance data not found at {CASES}")
@pytest.mark.parametrize("case", _params())
def test_case(case: dict[str, Any]) -> None:
    got, want = run_case(case)
    assert got == want


@pytest.mark.skipif(not CASES.exists(), reason=f"conformance data not found at {CASES}")
def test_every_offline_jsonpath_execution_passes() -> None:
    cases = [c for c in load_cases() if c["kind"] == "execution" and c["offline"]
             and not c["expected_has_placeholders"] and "jsonata" not in c["features"]]
    assert len(cases) > 700
    failing = [c["id"] for c in cases if not passes(c)]
    assert failing == []


@pytest.mark.skipif(not CASES.exists(), reason=f"conformance data not found at {CASES}")
def test_event_histories_match_aws() -> None:
    cases = history_cases()
    assert len(cases) > 300
    differing = {c["id"] for c in cases if not history_matches(c)}
    assert differing == set(KNOWN_HISTORY)


def test_data_missing_is_reported_not_crashing() -> None:
    if CASES.exists():
        assert load_cases(), "cases.jsonl is present but empty"
    else:
        pytest.skip(f"conformance data not found at {CASES}")
