"""TestState (``hubbub.workflows.teststate``): one state, an input, an optional mock; the
answer's status, output, nextState and inspection data. The AWS recordings are judged in
tests/conformance/test_asl.py; these pin the behaviour down case by case."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.workflows.core import RunTask
from hubbub.workflows.errors import InvalidDefinition, InvalidStateTest, StatesError
from hubbub.workflows.teststate import LEVELS, StateTestRequest, test_state

TASK = {"Type": "Task", "Resource": "double", "Parameters": {"x.$": "$.n"},
        "ResultSelector": {"value.$": "$"}, "ResultPath": "$.out", "Next": "After"}


def run(definition: Any, input: Any = None, **request: Any) -> dict[str, Any]:
    req: dict[str, Any] = {"definition": json.dumps(definition)}
    if input is not None:
        req["input"] = json.dumps(input)
    task = request.pop("task", None)
    return dict(test_state(req | request, task=task))  # type: ignore[arg-type]


def parsed(resp: dict[str, Any]) -> dict[str, Any]:
    """Payloads come back as JSON text, as TestState's do; parse them for asserts."""
    out = dict(resp)
    if "output" in out:
        out["output"] = json.loads(out["output"])
    if "inspectionData" in out:
        out["inspectionData"] = {k: json.loads(v) if isinstance(v, str) else v
                                 for k, v in out["inspectionData"].items()}
    return out


def test_a_task_with_a_mock_result_and_every_step_inspected() -> None:
    resp = parsed(run(TASK, {"n": 2}, mock={"result": "4"}, inspectionLevel="DEBUG"))
    assert resp == {
        "status": "SUCCEEDED", "output": {"n": 2, "out": {"value": 4}}, "nextState": "After",
        "inspectionData": {"input": {"n": 2}, "afterInputPath": {"n": 2},
                           "afterParameters": {"x": 2}, "result": 4,
                           "afterResultSelector": {"value": 4},
                           "afterResultPath": {"n": 2, "out": {"value": 4}}}}


def test_info_level_has_no_inspection_data_and_output_is_json_text() -> None:
    resp = run({"Type": "Pass", "Result": {"a": 1}, "End": True}, {"x": 1})
    assert resp == {"status": "SUCCEEDED", "output": '{"a":1}'}


def test_without_a_mock_the_task_runner_performs_the_task() -> None:
    calls: list[RunTask] = []

    def task(req: RunTask) -> Any:
        calls.append(req)
        return req.input["x"] * 2

    resp = parsed(run(TASK, {"n": 21}, task=task))
    assert resp["output"] == {"n": 21, "out": {"value": 42}}
    assert [(c.resource, c.input) for c in calls] == [("double", {"x": 21})]


def test_a_task_without_mock_or_runner_is_refused_clearly() -> None:
    with pytest.raises(InvalidStateTest, match="calls 'double': give a mock"):
        run(TASK, {"n": 1})


def test_a_task_runner_failure_fails_the_state() -> None:
    def task(req: RunTask) -> Any:
        raise StatesError("Lambda.Unknown", "it broke")

    assert run(TASK, {"n": 1}, task=task) == {"status": "FAILED", "error": "Lambda.Unknown",
                                              "cause": "it broke"}


RETRYING = {"Type": "Task", "Resource": "r", "End": True,
            "Retry": [{"ErrorEquals": ["Other"]},
                      {"ErrorEquals": ["Boom"], "IntervalSeconds": 3, "BackoffRate": 2,
                       "MaxAttempts": 3, "MaxDelaySeconds": 10}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "Handle"}]}
BOOM = {"errorOutput": {"error": "Boom", "cause": "bad"}}


@pytest.mark.parametrize(("retries", "status", "details"), [
    (0, "RETRIABLE", {"retryIndex": 1, "retryBackoffIntervalSeconds": 3}),
    (1, "RETRIABLE", {"retryIndex": 1, "retryBackoffIntervalSeconds": 6}),
    (2, "RETRIABLE", {"retryIndex": 1, "retryBackoffIntervalSeconds": 10}),  # MaxDelaySeconds
    (3, "CAUGHT_ERROR", {"retryIndex": 1, "catchIndex": 0}),  # retries used up: Catch
])
def test_retry_then_catch(retries: int, status: str, details: dict[str, Any]) -> None:
    resp = parsed(run(RETRYING, {"k": 1}, mock=BOOM, inspectionLevel="TRACE",
                      stateConfiguration={"retrierRetryCount": retries}))
    assert resp["status"] == status and (resp["error"], resp["cause"]) == ("Boom", "bad")
    assert resp["inspectionData"]["errorDetails"] == details
    if status == "CAUGHT_ERROR":
        assert resp["nextState"] == "Handle"
        assert resp["output"] == {"k": 1, "err": {"Error": "Boom", "Cause": "bad"}}
    else:
        assert "output" not in resp and "nextState" not in resp


def test_an_error_no_retrier_or_catcher_takes_fails() -> None:
    state = {"Type": "Task", "Resource": "r", "End": True,
             "Catch": [{"ErrorEquals": ["Other"], "Next": "X"}]}
    assert run(state, {}, mock=BOOM) == {"status": "FAILED", "error": "Boom", "cause": "bad"}


def test_fail_choice_succeed_wait() -> None:
    assert run({"Type": "Fail", "Error": "E", "Cause": "C"}, {}) == {
        "status": "FAILED", "error": "E", "cause": "C"}
    choice = {"Type": "Choice", "Default": "No",
              "Choices": [{"Variable": "$.v", "NumericGreaterThan": 1, "Next": "Yes"}]}
    assert run(choice, {"v": 2})["nextState"] == "Yes"
    assert run(choice, {"v": 0})["nextState"] == "No"
    no_default = {"Type": "Choice", "Choices": choice["Choices"]}
    assert run(no_default, {"v": 0})["error"] == "States.NoChoiceMatched"
    assert parsed(run({"Type": "Succeed", "OutputPath": "$.a"}, {"a": [1]}))["output"] == [1]
    # a year's Wait answers at once: TestState does not wait
    wait = {"Type": "Wait", "Seconds": 31_536_000, "Next": "Later"}
    assert run(wait, {"a": 1}) == {"status": "SUCCEEDED", "output": '{"a":1}',
                                   "nextState": "Later"}


def test_a_named_state_of_a_machine_nested_included_inherits_its_query_language() -> None:
    machine = {"QueryLanguage": "JSONata", "StartAt": "M", "States": {
        "M": {"Type": "Map", "End": True, "ItemProcessor": {"StartAt": "Inner", "States": {
            "Inner": {"Type": "Pass", "Output": "{% $states.input.a + 1 %}", "End": True}}}}}}
    resp = run(machine, {"a": 1}, stateName="Inner")
    assert resp == {"status": "SUCCEEDED", "output": "2"}
    with pytest.raises(InvalidStateTest, match="'Nope' is not a state"):
        run(machine, {}, stateName="Nope")


def test_a_mocked_map_runs_no_iteration_and_checks_its_tolerance() -> None:
    mapped = {"Type": "Map", "ItemsPath": "$.xs", "ToleratedFailureCount": 1, "End": True,
              "ItemProcessor": {"StartAt": "T", "States": {
                  "T": {"Type": "Task", "Resource": "never", "End": True}}},
              "Catch": [{"ErrorEquals": ["States.ExceedToleratedFailureThreshold"],
                         "Next": "TooMany"}]}
    ok = parsed(run(mapped, {"xs": [1, 2, 3]}, mock={"result": "[1, 2, 3]"},
                    inspectionLevel="DEBUG", stateConfiguration={"mapIterationFailureCount": 1}))
    assert ok["output"] == [1, 2, 3]
    assert ok["inspectionData"]["afterItemsPath"] == [1, 2, 3]
    assert ok["inspectionData"]["maxConcurrency"] == 0
    assert ok["inspectionData"]["toleratedFailureCount"] == 1
    too_many = run(mapped, {"xs": [1, 2, 3]}, mock={"result": "[1, 2, 3]"},
                   stateConfiguration={"mapIterationFailureCount": 2})
    assert too_many["status"] == "CAUGHT_ERROR" and too_many["nextState"] == "TooMany"
    assert too_many["error"] == "States.ExceedToleratedFailureThreshold"
    not_array = run(mapped, {"xs": {"a": 1}}, mock={"result": "[]"})
    assert not_array == {"status": "FAILED", "error": "States.Runtime",
                         "cause": 'Reference path "$.xs" must point to array.'}


def test_an_unmocked_map_and_parallel_run_their_states() -> None:
    mapped = {"Type": "Map", "End": True, "ItemProcessor": {"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "inc", "End": True}}}}
    resp = run({**mapped, "MaxConcurrency": 2}, [1, 2, 3], task=lambda req: req.input + 1,
               inspectionLevel="DEBUG")
    assert json.loads(resp["output"]) == [2, 3, 4]
    assert resp["inspectionData"]["maxConcurrency"] == 2
    assert json.loads(resp["inspectionData"]["afterItemsPath"]) == [1, 2, 3]
    par = {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "a", "End": True}}},
        {"StartAt": "B", "States": {"B": {"Type": "Wait", "Seconds": 99, "End": True}}}]}
    assert json.loads(run(par, {"k": 0})["output"]) == ["a", {"k": 0}]
    assert json.loads(run(par, {}, mock={"result": '["x", "y"]'})["output"]) == ["x", "y"]


def test_variables_context_and_assign() -> None:
    state = {"Type": "Pass", "QueryLanguage": "JSONata", "End": True,
             "Assign": {"total": "{% $base + $states.input.n %}"},
             "Output": {"who": "{% $states.context.Execution.Name %}",
                        "state": "{% $states.context.State.Name %}"}}
    resp = parsed(run(state, {"n": 2}, variables='{"base": 40}', inspectionLevel="DEBUG",
                      context='{"Execution": {"Name": "mine"}, "State": {"Name": "S"}}'))
    assert resp["output"] == {"who": "mine", "state": "S"}
    assert resp["inspectionData"]["variables"] == {"base": 40, "total": 42}
    default = parsed(run({**state, "Assign": {}}, {"n": 2}, variables='{"base": 1}',
                         roleArn="arn:aws:iam::1:role/r"))
    assert default["output"]["state"] == "StateName"  # as AWS names the tested state


def test_the_default_context_has_no_task_token_unless_given() -> None:
    state = {"Type": "Task", "Resource": "r", "End": True, "ResultSelector": {"c.$": "$$"}}
    out = json.loads(run(state, {}, mock={"result": "1"})["output"])["c"]
    assert "Task" not in out and out["Execution"]["RoleArn"] is None
    assert ":express:" in out["Execution"]["Id"] and out["State"]["RetryCount"] == 0
    out = json.loads(run(state, {}, mock={"result": "1"},
                         context='{"Task": {"Token": "t"}}')["output"])["c"]
    assert out == {"Task": {"Token": "t"}}


@pytest.mark.parametrize(("request_", "message"), [
    ({"definition": '{"Type": "Pass", "End": true}', "input": "{x"}, "input is not valid JSON"),
    ({"definition": '{"Type": "Pass", "End": true}', "inspectionLevel": "LOUD"},
     "inspectionLevel must be one of INFO, DEBUG, TRACE"),
    ({"definition": '{"Type": "Pass", "End": true}', "mock": {"result": "1"}},
     "a Pass state cannot be mocked"),
    ({"definition": json.dumps(TASK), "mock": {"result": "1", "errorOutput": {}}},
     "exactly one of result and errorOutput"),
    ({"definition": json.dumps(TASK), "mock": {"result": "{no"}}, "mock.result is not valid"),
    ({"definition": json.dumps(TASK), "mock": {"result": "1", "fieldValidationMode": "X"}},
     "fieldValidationMode must be one of"),
    ({"definition": json.dumps(TASK), "mock": {"errorOutput": {"error": 3}}},
     "errorOutput must be an object with string error"),
    ({"definition": '{"Type": "Parallel", "End": true, "Branches": [{"StartAt": "A", '
                    '"States": {"A": {"Type": "Pass", "End": true}}}]}', "mock": {"result": "{}"}},
     "must be a JSON array"),
    ({"definition": '{"Type": "Pass", "End": true}', "variables": "[1]"},
     "variables must be a JSON object"),
    ({"definition": '{"Type": "Pass", "End": true}', "stateName": "X"},
     "stateName needs a whole state machine"),
    ({"definition": json.dumps(TASK), "stateConfiguration": {"retrierRetryCount": -1}},
     "retrierRetryCount must be a whole number"),
    ({"definition": json.dumps(TASK), "stateConfiguration": {"mapIterationFailureCount": 1}},
     "mapIterationFailureCount applies to Map states only"),
    ({"definition": json.dumps(TASK), "stateConfiguration": {"errorCausedByState": "Z"}},
     "errorCausedByState 'Z' is not a state inside"),
    ({"input": "{}"}, "needs a definition"),
])
def test_requests_that_cannot_run_say_why(request_: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidStateTest, match=message):
        test_state(request_)  # type: ignore[arg-type]


@pytest.mark.parametrize(("definition", "location"), [
    ('{"Type": "Pass", "Next": 3}', "/Next"),
    ('{"Type": "Dance", "End": true}', "/Type"),
    ('{"Type": "Pass"}', "/"),
    ("[1, 2]", "/"),
    ("{nope", "line 1, column 2"),
    ('{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}', "/States/A/Next"),
])
def test_bad_definitions_raise_invalid_definition_with_a_location(definition: str,
                                                                   location: str) -> None:
    with pytest.raises(InvalidDefinition) as info:
        test_state({"definition": definition})
    assert info.value.diagnostics[0].location == location


def test_a_single_state_may_name_targets_outside_it() -> None:
    state = {"Type": "Choice", "Default": "Elsewhere", "Choices": [
        {"Variable": "$.a", "IsPresent": True, "Next": "There"}]}
    assert run(state, {"a": 1})["nextState"] == "There"


def test_the_inspection_levels_are_the_clis() -> None:
    from hubbub.sfn_cli import LEVELS as CLI_LEVELS

    assert CLI_LEVELS == LEVELS


JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                       lambda kids: st.lists(kids, max_size=3)
                       | st.dictionaries(st.text(max_size=4), kids, max_size=3), max_leaves=8)


VALID = [TASK, RETRYING, {"Type": "Pass", "End": True}, {"Type": "Succeed"},
         {"Type": "Map", "End": True, "ItemProcessor": {"StartAt": "T", "States": {
             "T": {"Type": "Task", "Resource": "r", "End": True}}}},
         {"Type": "Choice", "Default": "D", "Choices": [
             {"Variable": "$.a", "IsPresent": True, "Next": "A"}]}]
FIELDS = st.sampled_from(["Next", "End", "InputPath", "Parameters", "ResultPath", "Result",
                          "OutputPath", "ResultSelector", "ItemsPath", "Retry", "Catch",
                          "QueryLanguage", "Assign", "Output", "Arguments", "Items"])
VALUES = JSONISH | st.sampled_from(["$", "$.a", "$$", "$.a[0]", "{% $states.input %}",
                                    "JSONata", "X", [{"ErrorEquals": ["States.ALL"]}]])


@settings(max_examples=300, deadline=None)
@given(base=st.sampled_from(VALID), changes=st.dictionaries(FIELDS, VALUES, max_size=3),
       input=JSONISH, level=st.sampled_from(LEVELS), mock=st.none() | st.sampled_from(
           [{"result": "1"}, {"result": "[1]"}, {"errorOutput": {"error": "E"}}]))
def test_anything_answers_or_is_refused_never_crashes(base: dict[str, Any],
                                                      changes: dict[str, Any], input: Any,
                                                      level: str, mock: Any) -> None:
    state = {**base, **changes}
    request: StateTestRequest = {"definition": json.dumps(state), "input": json.dumps(input),
                                 "inspectionLevel": level}
    if mock is not None:
        request["mock"] = mock
    try:
        resp = test_state(request, task=lambda req: req.input)
    except (InvalidDefinition, InvalidStateTest):
        return
    assert resp["status"] in ("SUCCEEDED", "FAILED", "RETRIABLE", "CAUGHT_ERROR")


def test_regressions_found_by_the_fuzzer() -> None:
    # a catcher whose ResultPath the input cannot take fails the state (as in an execution)
    resp = run(RETRYING, [], mock={"errorOutput": {"error": "E"}})
    assert resp == {"status": "FAILED", "error": "States.Runtime",
                    "cause": "Invalid path '$.err': cannot set field 'err' on []"}
    # ItemsPath null selects {} (ASL: a null path is an empty object), not an array
    mapped = {"Type": "Map", "End": True, "ItemsPath": None, "ItemProcessor": {
        "StartAt": "T", "States": {"T": {"Type": "Pass", "End": True}}}}
    assert run(mapped, [1]) == {"status": "FAILED", "error": "States.Runtime",
                                "cause": 'Reference path "null" must point to array.'}


def test_a_mocked_map_with_an_item_reader_counts_the_reader_data() -> None:
    mapped = {"Type": "Map", "End": True, "ToleratedFailurePercentage": 50,
              "ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
                             "Parameters": {"Bucket": "b", "Key": "k"}},
              "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "T",
                                "States": {"T": {"Type": "Pass", "End": True}}}}
    data = {"mapItemReaderData": "[1, 2, 3, 4]"}
    ok = run(mapped, {}, mock={"result": "[1]"},
             stateConfiguration={**data, "mapIterationFailureCount": 2})
    assert ok == {"status": "SUCCEEDED", "output": "[1]"}  # 2 of 4 is 50%
    too_many = run(mapped, {}, mock={"result": "[1]"},
                   stateConfiguration={**data, "mapIterationFailureCount": 3})
    assert too_many["error"] == "States.ExceedToleratedFailureThreshold"
    failed = run(mapped, {}, mock={"errorOutput": {"error": "E", "cause": "c"}})
    assert failed == {"status": "FAILED", "error": "E", "cause": "c"}
