"""Bad definitions and inputs, generated: validation answers with diagnostics, and a
definition it accepts runs to SUCCEEDED or FAILED; nothing raises a Python error."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubbub.workflows import StateMachine, StatesError, validate_definition

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.sampled_from(
        ["$", "$.a", "$.a[0]", "$$.Execution.Name", "A", "B", "Pass", "Task", "Choice", "Map",
         "Wait", "Fail", "Succeed", "Parallel", "States.ALL", "{% 1 %}", "$x",
         "States.Format('{}', $.a)", "2020-01-01T00:00:00Z"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(
        ["a", "b", "Next", "End", "Type", "x.$"]), inner, max_size=3),
    max_leaves=8)

FIELDS = ["Type", "Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters",
          "Result", "Choices", "Default", "Seconds", "SecondsPath", "Timestamp", "Error",
          "Cause", "ItemsPath", "ItemProcessor", "Branches", "Retry", "Catch", "Resource",
          "Assign", "MaxConcurrency", "ItemSelector", "ResultSelector", "QueryLanguage",
          "Output", "Arguments", "Items", "Condition"]

state = st.fixed_dictionaries(
    {"Type": st.sampled_from(["Pass", "Choice", "Wait", "Fail", "Succeed", "Map",
                              "Parallel", "Task", "Nope"])},
    optional={f: json_values for f in FIELDS[1:]})

definitions = st.fixed_dictionaries(
    {"StartAt": st.sampled_from(["A", "B"]),
     "States": st.dictionaries(st.sampled_from(["A", "B"]), state, min_size=1)},
    optional={"QueryLanguage": st.sampled_from(["JSONPath", "JSONata", 3])})


def task(req: Any) -> Any:
    return {"ok": True}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(definitions, json_values)
def test_validator_and_interpreter_never_crash(defn: dict[str, Any], data: Any) -> None:
    diags = validate_definition(defn)
    assert all(d.location.startswith("/") for d in diags)
    if diags:
        return
    ex = StateMachine.from_definition(defn, max_events=500).run_sync(data, task)
    assert ex.error != "States.Runtime" or "hubbub could not run" not in (ex.cause or "")
    assert ex.status in ("SUCCEEDED", "FAILED"), (ex.status, ex.error, ex.cause)


@settings(max_examples=150, deadline=None)
@given(json_values, json_values, json_values, st.sampled_from(["JSONPath", "JSONata", 3]))
def test_any_json_document_as_definition(doc: Any, start: Any, states: Any, ql: Any) -> None:
    for candidate in (doc, {"StartAt": start, "States": states, "QueryLanguage": ql},
                      {"StartAt": "A", "States": {"A": states}, "QueryLanguage": ql}):
        for d in validate_definition(candidate):
            assert d.code and d.message
        validate_definition(candidate, machine_type="EXPRESS")


def test_states_error_is_the_only_failure_type() -> None:
    m = StateMachine.from_definition({"StartAt": "A", "States": {"A": {
        "Type": "Pass", "Parameters": {"x.$": "States.ArrayGetItem($.a, 9)"}, "End": True}}})
    ex = m.run_sync({"a": [1]}, task)
    assert ex.status == "FAILED" and ex.error == "States.Runtime"
    assert isinstance(StatesError("e"), Exception)


def test_a_definition_that_loops_forever_ends() -> None:
    m = StateMachine.from_definition({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "A"}}}, max_events=1000)
    ex = m.run_sync({}, task)
    assert ex.status == "FAILED" and ex.error == "States.Runtime"
    assert "maximum number of history events (1000)" in (ex.cause or "")
