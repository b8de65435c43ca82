"""``iter_states``: every state of a definition, nested ones included, and its two users
(the local wiring's ``task_functions``, the AWS export's ``rewrite_tasks``)."""

from __future__ import annotations

from typing import Any

import pytest

from hubbub.aws.asl import rewrite_tasks
from hubbub.errors import ConfigError
from hubbub.workflow_wiring import task_functions
from hubbub.workflows.states import LAMBDA_INVOKE, iter_states

NESTED: dict[str, Any] = {
    "StartAt": "A",
    "States": {
        "A": {"Type": "Task", "Resource": "first", "Next": "Fan"},
        "Fan": {"Type": "Parallel", "Next": "Each", "Branches": [
            {"StartAt": "B", "States": {"B": {"Type": "Task", "Resource": LAMBDA_INVOKE,
                                              "Parameters": {"FunctionName": "second"},
                                              "End": True}}},
            "not a branch",
            {"StartAt": "C", "States": {"C": {"Type": "Pass", "End": True}}}]},
        "Each": {"Type": "Map", "End": True, "ItemProcessor": {"StartAt": "D", "States": {
            "D": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
                  "End": True},
            "E": "not a state"}}},
    },
}


def test_every_state_in_order_each_before_its_nested_ones() -> None:
    assert [at for at, _ in iter_states(NESTED)] == [
        "/States/A", "/States/Fan", "/States/Fan/Branches/0/States/B",
        "/States/Fan/Branches/2/States/C", "/States/Each", "/States/Each/ItemProcessor/States/D"]
    assert dict(iter_states(NESTED))["/States/A"] is NESTED["States"]["A"]


@pytest.mark.parametrize("definition", [{}, {"States": []}, {"States": "x"},
                                        {"States": {"A": {"Type": "Map", "Iterator": 5}}}])
def test_what_is_not_an_object_is_passed_over(definition: dict[str, Any]) -> None:
    assert [at for at, _ in iter_states(definition)] == (
        ["/States/A"] if definition.get("States") and isinstance(definition["States"], dict)
        else [])


def test_task_functions_finds_nested_tasks() -> None:
    assert task_functions(NESTED) == [
        ("/States/A/Resource", "first"),
        ("/States/Fan/Branches/0/States/B/Parameters/FunctionName", "second")]


def test_rewrite_tasks_rewrites_nested_tasks_in_a_copy() -> None:
    out, seen = rewrite_tasks(NESTED, lambda name: f"arn:aws:lambda:::function:{name}")
    assert seen == ["first", "second"]
    assert out["States"]["A"]["Resource"] == "arn:aws:lambda:::function:first"
    b = out["States"]["Fan"]["Branches"][0]["States"]["B"]
    assert b["Parameters"]["FunctionName"] == "arn:aws:lambda:::function:second"
    assert NESTED["States"]["A"]["Resource"] == "first"  # the input is left alone

    def unknown(name: str) -> str:
        raise ConfigError(f"no function {name}")

    with pytest.raises(ConfigError, match="/States/A/Resource: no function first"):
        rewrite_tasks(NESTED, unknown)
