"""State machines in a running node: declared in the manifest, created by functions at
run time, started by a rule's ``stepFunctions`` action and by functions, kept across a
restart, and lazy (only the task invocations the result needs happen)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hubbub.errors import ConfigError
from hubbub.server import Node
from hubbub.workflow_wiring import ExecutionAlreadyExists, ExecutionNotFound, StateMachineNotFound
from hubbub.workflows import InvalidDefinition, pipeline

from .conftest import APP, start_node


@pytest.fixture
async def app_node(tmp_path: Path):  # noqa: ANN201
    node = await start_node(tmp_path / "data", APP)
    try:
        yield node
    finally:
        await node.stop()


async def test_rule_action_starts_an_execution(app_node: Node) -> None:
    wf = app_node.services.workflows
    await app_node.broker.publish("orders/o42", json.dumps({"amount": 21}), qos=1)
    await wf.wait_idle()
    [ex] = (await wf.list_executions("orders"))["executions"]
    assert ex["name"].startswith("order-o42-") and ex["status"] == "SUCCEEDED"
    assert ex["executionArn"].endswith(f":execution:orders:{ex['name']}")
    d = await wf.describe_execution(ex["executionArn"])
    assert json.loads(d["output"]) == {"amount": 21, "order": "o42", "doubled": 42}
    events = (await wf.get_execution_history(ex["name"]))["events"]
    types = [e["type"] for e in events]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded"
    assert "TaskScheduled" in types and "TaskSucceeded" in types
    assert app_node.services.functions.stats["double"]["invocations"] == 1


async def test_functions_create_and_start_machines(app_node: Node) -> None:
    svc = app_node.services
    created = await svc.call("make_machine", {"name": "evens",
                                              "pipeline": "map(double, filter(is_even, xs))"})
    assert created["stateMachineArn"].endswith(":stateMachine:evens")
    # map(double) reads {"x": ...}: the pipeline's items are plain numbers, so double
    # fails with TypeError, which the execution reports as Lambda does (errorType)
    started = await svc.call("start", {"machine": "evens", "input": {"xs": [1, 2, 3, 4]},
                                       "name": "e1"})
    assert started["executionArn"].endswith(":execution:evens:e1")
    assert isinstance(started["startDate"], float)
    await svc.workflows.wait_idle()
    d = await svc.workflows.describe_execution("e1")
    assert d["status"] == "FAILED" and d["error"] == "TypeError"
    assert json.loads(d["cause"])["errorType"] == "TypeError"
    # a name is used once
    with pytest.raises(ExecutionAlreadyExists):
        await svc.workflows.start_execution("evens", {"xs": []}, "e1")
    with pytest.raises(StateMachineNotFound):
        await svc.workflows.start_execution("nope", {}, None)
    with pytest.raises(ExecutionNotFound):
        await svc.workflows.describe_execution("never")
    # a bad definition is refused with the path; a Task naming no function too
    with pytest.raises(InvalidDefinition) as bad:
        await svc.workflows.create_state_machine("bad", {"StartAt": "X", "States": {}})
    assert bad.value.diagnostics[0].location == "/States"
    with pytest.raises(Exception, match="/States/T/Resource: no function 'ghost'"):
        await svc.workflows.create_state_machine(
            "ghost", {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "ghost",
                                                       "End": True}}})


async def test_a_failing_task_fails_the_execution_with_lambdas_error(app_node: Node) -> None:
    out = await app_node.services.workflows.start_sync_execution("failing", {}, "f1")
    assert out["status"] == "FAILED" and out["error"] == "ValueError"
    assert json.loads(out["cause"])["errorMessage"] == "no luck"


async def test_take_of_filter_is_lazy(app_node: Node) -> None:
    """take(3, filter(is_even, xs)) over 1..1000 needs 6 is_even calls, not 1000."""
    wf = app_node.services.workflows
    stats = app_node.services.functions.stats["is_even"]
    await wf.create_state_machine("lazy", pipeline.translate("take(3, filter(is_even, xs))"))
    before = stats["invocations"]
    out = await wf.start_sync_execution("lazy", {"xs": list(range(1, 1001))}, "lazy-1")
    assert out["status"] == "SUCCEEDED" and json.loads(out["output"]) == [2, 4, 6]
    assert stats["invocations"] - before == 6
    events = (await wf.get_execution_history("lazy-1"))["events"]
    assert sum(e["type"] == "TaskScheduled" for e in events) == 6
    # the eager pipeline does all the work
    await wf.create_state_machine("eager", pipeline.translate("filter(is_even, xs)"))
    before = stats["invocations"]
    out = await wf.start_sync_execution("eager", {"xs": list(range(1, 1001))}, "eager-1")
    assert len(json.loads(out["output"])) == 500 and stats["invocations"] - before == 1000


async def test_top_is_lazy_over_the_sorted_words(tmp_path: Path) -> None:
    """/top 2 filters stop words out of the sorted counts two at a time and stops once two
    words came through: 4 not_stopword calls, not one per distinct word."""
    from ..chat.chatclient import ChatClient
    from .conftest import seed

    node = await start_node(tmp_path / "data")
    try:
        msgs = [("a", "the " * 10 + "and " * 9 + "cat " * 8 + "dog " * 7)]
        msgs += [("b", f"unique{i}") for i in range(100)]
        await seed(node, "zoo", msgs)
        c = await ChatClient.create(node.url)
        await c.connect()
        await c.join("zoo", "z")
        stats = node.services.functions.stats
        words_before = stats["words"]["invocations"]
        c.publish("chat/out", {"type": "command", "room": "zoo", "text": "/top 2"})
        got = await c.expect(lambda t, p: isinstance(p, dict) and p.get("command") == "/top")
        c.close()
        assert got["data"]["words"] == [{"word": "cat", "count": 8}, {"word": "dog", "count": 7}]
        assert stats["not_stopword"]["invocations"] == 4  # the, and | cat, dog
        assert stats["words"]["invocations"] - words_before == 101  # map is not lazy here
    finally:
        await node.stop()


async def test_executions_survive_a_restart_and_are_listed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    node = await start_node(data, APP)
    try:
        wf = node.services.workflows
        done = await wf.start_sync_execution("orders", {"amount": 5}, "before-restart")
        assert done["status"] == "SUCCEEDED"
        await wf.start_execution("slow", {}, "napping")  # a one-hour Wait: still running
        await node.services.call("make_machine", {"name": "made", "pipeline": "count(xs)"})
        assert wf.running == 1
    finally:
        await node.stop()  # aborts the running execution and records it
    node = await start_node(data, APP)
    try:
        wf = node.services.workflows
        listed = {e["name"]: e["status"] for e in (await wf.list_executions())["executions"]}
        assert listed == {"before-restart": "SUCCEEDED", "napping": "ABORTED"}
        d = await wf.describe_execution("before-restart")
        assert json.loads(d["output"])["doubled"] == 10
        assert (await wf.get_execution_history("napping"))["events"][-1]["type"] \
            == "ExecutionAborted"
        # a machine a function created before the restart is still there
        out = await wf.start_sync_execution("made", {"xs": ["a", "b", "a"]})
        assert json.loads(out["output"]) == {"a": 2, "b": 1}
    finally:
        await node.stop()


async def test_a_bad_manifest_machine_stops_the_start_with_its_path(tmp_path: Path) -> None:
    app = tmp_path / "app"
    shutil.copytree(APP, app)
    manifest = json.loads((app / "hubbub.json").read_text())
    manifest["stateMachines"]["broken"] = {"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "Nowhere"}}}
    (app / "hubbub.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match=r"stateMachines\.broken: .*/States/A/Next"):
        await start_node(tmp_path / "data", app)
    manifest["stateMachines"]["broken"] = {"StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": "missing_fn", "End": True}}}
    (app / "hubbub.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match=r"stateMachines\.broken: /States/A/Resource: no "
                                          r"function 'missing_fn'"):
        await start_node(tmp_path / "data2", app)


async def test_lambda_invoke_integration_and_machine_types(app_node: Node) -> None:
    wf = app_node.services.workflows
    await wf.create_state_machine("optimized", {"StartAt": "Call", "States": {"Call": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "arn:aws:lambda:us-east-1:1:function:double",
                       "Payload": {"x.$": "$.n"}},
        "ResultSelector": {"doubled.$": "$.Payload"}, "End": True}}}, "EXPRESS")
    out = await wf.start_sync_execution("optimized", {"n": 8})
    assert out["status"] == "SUCCEEDED" and json.loads(out["output"]) == {"doubled": 16}
    with pytest.raises(Exception, match="STANDARD or EXPRESS"):
        await wf.create_state_machine("odd", {"StartAt": "P", "States": {
            "P": {"Type": "Pass", "End": True}}}, "FAST")
    # Express machines refuse what only Standard ones can do (callbacks, .sync)
    with pytest.raises(InvalidDefinition):
        await wf.create_state_machine("cb", {"StartAt": "T", "States": {"T": {
            "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": "double", "Payload": {}}, "End": True}}},
            "EXPRESS")


async def test_an_execution_a_crash_left_running_is_aborted_at_start(tmp_path: Path) -> None:
    from hubbub.tables import create_table_engine
    from hubbub.workflows import TableExecutionStore
    from hubbub.workflows.store import ExecutionRecord

    data = tmp_path / "data"
    data.mkdir()
    engine = create_table_engine("sqlite", data / "tables.sqlite3")
    await engine.open()
    started = {"id": 1, "previousEventId": 0, "timestamp": "2026-11-27T00:00:00Z",
               "type": "ExecutionStarted", "executionStartedEventDetails": {"input": "{}"}}
    await TableExecutionStore(engine).put(ExecutionRecord(
        "left-behind", "orders", "RUNNING", {"amount": 1}, start_date=1.0, history=[started]))
    await engine.close()
    node = await start_node(data, APP)
    try:
        d = await node.services.workflows.describe_execution("left-behind")
        assert d["status"] == "ABORTED" and d["error"] == "Hubbub.Restarted"
    finally:
        await node.stop()
