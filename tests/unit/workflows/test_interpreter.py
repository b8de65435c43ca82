"""The pure interpreter: driven by hand through the step-function API and run_sync."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hubbub.workflows import InvalidDefinition, StateMachine, StatesError, validate_definition
from hubbub.workflows.core import RunBranches, RunTask, TaskFailed, TaskSucceeded, WaitUntil


def machine(states: dict[str, Any], start: str | None = None, **top: Any) -> StateMachine:
    return StateMachine.from_definition(
        {"StartAt": start or next(iter(states)), "States": states, **top})


def no_tasks(req: RunTask) -> Any:
    raise AssertionError(f"unexpected task {req}")


def test_pass_paths_and_parameters() -> None:
    m = machine({"P": {"Type": "Pass", "InputPath": "$.a", "Parameters": {
        "x.$": "$.b", "lit": 1, "f.$": "States.Format('{}-{}', $.b, $$.Execution.Name)"},
        "ResultPath": "$.out", "OutputPath": "$.out", "End": True}})
    ex = m.run_sync({"a": {"b": "B"}}, no_tasks, name="run1")
    assert ex.status == "SUCCEEDED"
    assert ex.output == {"x": "B", "lit": 1, "f": "B-run1"}


def test_step_function_api_yields_task_requests_and_takes_outcomes() -> None:
    m = machine({"T": {"Type": "Task", "Resource": "arn:aws:lambda:r:1:function:double",
                       "TimeoutSeconds": 5, "ResultPath": "$.r", "End": True}})
    ex = m.execution({"n": 2}, name="e", clock=lambda: 100.0)
    req = ex.start()
    assert isinstance(req, RunTask)
    assert req.input == {"n": 2} and req.timeout == 5.0
    assert ex.resume(TaskSucceeded(4)) is None
    assert ex.status == "SUCCEEDED" and ex.output == {"n": 2, "r": 4}
    kinds = [e["type"] for e in ex.history.events]
    assert kinds == ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted",
                     "TaskSucceeded", "TaskStateExited", "ExecutionSucceeded"]
    assert [e["id"] for e in ex.history.events] == list(range(1, 8))


def test_wait_asks_for_a_time_and_never_sleeps() -> None:
    m = machine({"W": {"Type": "Wait", "SecondsPath": "$.s", "Next": "U"},
                 "U": {"Type": "Wait", "Timestamp": "2030-01-01T00:00:00Z", "End": True}})
    now = [1000.0]
    ex = m.execution({"s": 30}, name="w", clock=lambda: now[0])
    req = ex.start()
    assert req == WaitUntil(1030.0)
    now[0] = 1030.0
    req = ex.resume(None)
    assert isinstance(req, WaitUntil) and req.when == 1893456000.0
    assert ex.resume(None) is None and ex.status == "SUCCEEDED"


def test_retry_backoff_then_catch() -> None:
    m = machine({
        "T": {"Type": "Task", "Resource": "flaky", "End": True,
              "Retry": [{"ErrorEquals": ["Boom"], "IntervalSeconds": 2, "BackoffRate": 3,
                         "MaxAttempts": 2, "MaxDelaySeconds": 5}],
              "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "C"}]},
        "C": {"Type": "Pass", "End": True}})
    ex = m.execution({}, name="r", clock=lambda: 0.0)
    assert isinstance(ex.start(), RunTask)
    assert ex.resume(TaskFailed("Boom", "1")) == WaitUntil(2.0)
    assert isinstance(ex.resume(None), RunTask)
    assert ex.resume(TaskFailed("Boom", "2")) == WaitUntil(5.0)  # 6 capped at 5
    assert isinstance(ex.resume(None), RunTask)
    assert ex.resume(TaskFailed("Boom", "3")) is None
    assert ex.output == {"err": {"Error": "Boom", "Cause": "3"}}


def test_runtime_errors_name_the_state_and_event_and_are_not_caught() -> None:
    m = machine({"A": {"Type": "Pass", "Next": "B"},
                 "B": {"Type": "Pass", "InputPath": "$.missing", "End": True}})
    ex = m.run_sync({}, no_tasks)
    assert ex.status == "FAILED" and ex.error == "States.Runtime"
    assert ex.cause == ("An error occurred while executing the state 'B' (entered at the event "
                        "id #4). Invalid path '$.missing' : No results for path: $['missing']")


def test_choice_operators_and_default() -> None:
    m = machine({"C": {"Type": "Choice", "Choices": [
        {"And": [{"Variable": "$.n", "NumericGreaterThan": 1},
                 {"Not": {"Variable": "$.s", "StringMatches": "a*z"}}], "Next": "Big"},
        {"Variable": "$.t", "TimestampLessThanPath": "$.u", "Next": "Early"}],
        "Default": "Other"},
        "Big": {"Type": "Pass", "Result": "big", "End": True},
        "Early": {"Type": "Pass", "Result": "early", "End": True},
        "Other": {"Type": "Fail", "Error": "NoMatch"}})
    assert m.run_sync({"n": 2, "s": "abc"}, no_tasks).output == "big"
    assert m.run_sync({"n": 2, "s": "abz", "t": "2020-01-01T00:00:00Z",
                       "u": "2021-01-01T00:00:00+01:00"}, no_tasks).output == "early"
    assert m.run_sync({"n": "2", "s": "x", "t": 1, "u": 2}, no_tasks).error == "NoMatch"


def test_map_requests_branches_with_max_concurrency_and_context() -> None:
    m = machine({"M": {"Type": "Map", "ItemsPath": "$.xs", "MaxConcurrency": 2,
                       "ItemSelector": {"v.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index"},
                       "ItemProcessor": {"StartAt": "P", "States": {
                           "P": {"Type": "Pass", "End": True}}}, "End": True}})
    ex = m.execution({"xs": ["a", "b", "c"]}, name="m", clock=lambda: 0.0)
    req = ex.start()
    assert isinstance(req, RunBranches) and req.max_concurrency == 2
    assert len(req.branches) == 3
    done = m.run_sync({"xs": ["a", "b"]}, no_tasks)
    assert done.output == [{"v": "a", "i": 0}, {"v": "b", "i": 1}]
    kinds = [e["type"] for e in done.history.events]
    assert kinds.count("MapIterationStarted") == 2 and "MapStateSucceeded" in kinds


def test_parallel_and_variables() -> None:
    m = machine({
        "S": {"Type": "Pass", "Assign": {"k": 10}, "Next": "P"},
        "P": {"Type": "Parallel", "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "Parameters": {"v.$": "$k"},
                                              "End": True}}},
            {"StartAt": "B", "States": {"B": {"Type": "Task", "Resource": "t", "End": True}}}],
              "End": True}})
    ex = m.run_sync({}, lambda req: "task-out")
    assert ex.output == [{"v": 10}, "task-out"]


def test_task_failure_without_catch_fails_the_execution() -> None:
    m = machine({"T": {"Type": "Task", "Resource": "t", "End": True}})

    def fail(req: RunTask) -> Any:
        raise StatesError("MyError", "it broke")

    ex = m.run_sync({}, fail)
    assert (ex.status, ex.error, ex.cause) == ("FAILED", "MyError", "it broke")
    assert ex.history.events[-1]["type"] == "ExecutionFailed"


def test_jsonata_state() -> None:
    m = machine({"J": {"Type": "Pass", "Output": "{% $states.input.a * 2 %}", "End": True}},
                QueryLanguage="JSONata")
    assert m.run_sync({"a": 21}, no_tasks).output == 42


@pytest.mark.parametrize("expr,expected", [
    ("States.Array(1, 'two', $.x)", [1, "two", 3]),
    ("States.ArrayPartition(States.ArrayRange(1, 5, 1), 2)", [[1, 2], [3, 4], [5]]),
    ("States.ArrayContains($.l, 2)", True),
    ("States.ArrayGetItem($.l, 1)", 2),
    ("States.ArrayLength($.l)", 3),
    ("States.ArrayUnique(States.Array(1, 1, 2))", [1, 2]),
    ("States.MathAdd($.x, -1)", 2),
    ("States.StringSplit('a,b;c', ',;')", ["a", "b", "c"]),
    ("States.Hash('abc', 'SHA-256')",
     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    ("States.Base64Decode(States.Base64Encode('hi'))", "hi"),
    ("States.JsonMerge(States.StringToJson('{\"a\":1}'), $.o, false)", {"a": 1, "b": 2}),
    ("States.JsonToString($.o)", '{"b":2}'),
    ("States.Format('x\\{y\\}{}', 'z')", "x{y}z"),
])
def test_intrinsics(expr: str, expected: Any) -> None:
    m = machine({"P": {"Type": "Pass", "Parameters": {"r.$": expr}, "End": True}})
    ex = m.run_sync({"x": 3, "l": [1, 2, 3], "o": {"b": 2}}, no_tasks)
    assert ex.status == "SUCCEEDED", ex.cause
    assert ex.output == {"r": expected}


def test_uuid_and_random_come_from_the_injected_rng() -> None:
    m = machine({"P": {"Type": "Pass", "Parameters": {
        "u.$": "States.UUID()", "r.$": "States.MathRandom(1, 10)"}, "End": True}})
    a = m.run_sync({}, no_tasks).output
    b = m.run_sync({}, no_tasks).output
    assert a == b and len(a["u"]) == 36 and 1 <= a["r"] < 10


def test_validation_points_at_the_offending_path() -> None:
    bad = {"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "Nowhere"},
        "W": {"Type": "Wait", "Timestamp": "yesterday", "End": True},
        "C": {"Type": "Choice", "Choices": []}}}
    diags = validate_definition(bad)
    where = {d.location for d in diags}
    assert "/States/A/Next" in where
    assert "/States/W/Timestamp" in where
    assert "/States/C" in where
    with pytest.raises(InvalidDefinition) as info:
        StateMachine.from_definition(bad)
    assert info.value.diagnostics == diags
    assert info.value.http_status == 400


@pytest.mark.parametrize("text", ["", "not json", "[]", "{}", json.dumps({"StartAt": "X"}),
                                  json.dumps({"StartAt": "X", "States": {"X": 5}}),
                                  json.dumps({"StartAt": "X", "States": {"X": {"Type": "Nope"}}})])
def test_bad_definitions_give_diagnostics_not_crashes(text: str) -> None:
    diags = validate_definition(text)
    assert diags and all(d.code and d.message for d in diags)


def test_illegal_intrinsic_escape_is_rejected_before_running() -> None:
    d = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {
        "x.$": "States.Format('a \\\"b\\\"')"}, "End": True}}}
    [diag] = validate_definition(d)
    assert diag.location == "/States/P/Parameters"


def test_express_executions_have_express_arns_and_no_redrive_count() -> None:
    defn = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"c.$": "$$"},
                                             "End": True}}}
    std = StateMachine.from_definition(defn, "m").run_sync({}, lambda r: None, name="x")
    assert std.arn.endswith(":execution:m:x")
    assert std.output["c"]["Execution"]["RedriveCount"] == 0
    exp = StateMachine.from_definition(defn, "m", type="EXPRESS")
    ex = exp.run_sync({}, lambda r: None, name="x")
    prefix = "arn:aws:states:local:000000000000:express:m:x:"
    assert ex.arn.startswith(prefix) and len(ex.arn) == len(prefix) + 36
    assert ex.output["c"]["Execution"]["Id"] == ex.arn == exp.run_sync(
        {}, lambda r: None, name="x").arn  # stable for a name
    assert "RedriveCount" not in ex.output["c"]["Execution"]
    with pytest.raises(ValueError, match="STANDARD or EXPRESS"):
        StateMachine.from_definition(defn, "m", type="BATCH")


def test_a_bare_word_is_reported_as_aws_jackson_parser_does() -> None:
    from hubbub.workflows import validate_definition

    [d] = validate_definition("not a definition")
    assert d.code == "INVALID_JSON_DESCRIPTION"
    assert d.location == '[Source: (String)"not a definition"; line: 1, column: 4]'
    assert d.message.startswith("Unrecognized token 'not': was expecting (JSON String")
    [d] = validate_definition('{"a": 1,}')  # other syntax errors: Python's text
    assert d.message.startswith("Invalid JSON: ") and d.location == "line 1, column 9"
