"""``hubbub sfn start|describe|history|list`` (hubbub.sfn_cli.sfn_command) on a node's
data folder: what it starts, a node lists after a restart, and the other way round."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from hubbub.sfn_cli import sfn_command

from .conftest import APP, config, start_node


async def sfn(cfg, action, target=None, input_json="{}", name=None):  # noqa: ANN001, ANN201
    out = io.StringIO()
    code = await sfn_command(cfg, action, target, input_json, name, out=out)
    return code, out.getvalue()


async def test_start_describe_history_list(tmp_path: Path) -> None:
    cfg = config(tmp_path / "data").replace(app=APP)
    code, out = await sfn(cfg, "start", "orders", '{"amount": 4}', "cli-1")
    assert code == 0
    result = json.loads(out)
    assert result["status"] == "SUCCEEDED" and json.loads(result["output"])["doubled"] == 8
    assert result["executionArn"].endswith(":execution:orders:cli-1")

    code, out = await sfn(cfg, "describe", "cli-1")
    assert code == 0 and json.loads(out)["status"] == "SUCCEEDED"
    code, out = await sfn(cfg, "history", result["executionArn"])
    events = json.loads(out)["events"]
    assert code == 0 and events[0]["type"] == "ExecutionStarted"
    assert events[-1]["type"] == "ExecutionSucceeded"

    code, out = await sfn(cfg, "start", "failing", "{}", "cli-2")
    assert code == 1 and json.loads(out)["error"] == "ValueError"

    code, out = await sfn(cfg, "list")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["STATUS", "STARTED", "STOPPED", "NAME"]
    assert [ln.split()[0] for ln in lines[1:]] == ["FAILED", "SUCCEEDED"]  # newest first
    assert [ln.split()[-1] for ln in lines[1:]] == ["cli-2", "cli-1"]
    code, out = await sfn(cfg, "list", "orders")
    assert [ln.split()[-1] for ln in out.splitlines()[1:]] == ["cli-1"]

    # a node on the same data lists what the command line ran, and vice versa
    node = await start_node(tmp_path / "data", APP)
    try:
        wf = node.services.workflows
        names = [e["name"] for e in (await wf.list_executions())["executions"]]
        assert names == ["cli-2", "cli-1"]
        await wf.start_sync_execution("orders", {"amount": 1}, "from-node")
    finally:
        await node.stop()
    code, out = await sfn(cfg, "describe", "from-node")
    assert code == 0 and json.loads(json.loads(out)["output"])["doubled"] == 2


async def test_bad_requests_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    cfg = config(tmp_path / "data").replace(app=APP)
    assert (await sfn(cfg, "describe", "nobody"))[0] == 1
    assert "Execution Does Not Exist: 'nobody'" in capsys.readouterr().err
    assert (await sfn(cfg, "start", "nope"))[0] == 1
    assert "State Machine Does Not Exist: 'nope'" in capsys.readouterr().err
    assert (await sfn(cfg, "start", "orders", "{not json"))[0] == 2
    assert "--input is not JSON" in capsys.readouterr().err
    assert (await sfn(cfg, "start"))[0] == 2
    assert "needs a state machine name" in capsys.readouterr().err
    assert (await sfn(cfg, "history"))[0] == 2
    assert (await sfn(cfg, "start", "orders", '{"amount": 1}', "x" * 81))[0] == 2
    assert "invalid execution name" in capsys.readouterr().err
    await sfn(cfg, "start", "orders", '{"amount": 1}', "twice")
    assert (await sfn(cfg, "start", "orders", '{"amount": 1}', "twice"))[0] == 2
    assert "Execution Already Exists" in capsys.readouterr().err


async def test_a_task_that_publishes_fails_clearly_outside_the_server(tmp_path: Path) -> None:
    """The chat's /help machine ends in command_reply, which publishes: the command line
    has no broker, so that task fails with an error saying where to start it."""
    node = await start_node(tmp_path / "data")  # the chat
    try:
        svc = node.services
        await svc.call("chat", {"type": "command", "room": "lobby", "text": "/help",
                                "clientId": "cli-test"})
        await svc.workflows.wait_idle()
    finally:
        await node.stop()
    cfg = config(tmp_path / "data")
    code, out = await sfn(cfg, "start", "chat-help",
                          json.dumps({"clientId": "c", "room": "lobby", "command": "/help",
                                      "commands": ["/help"]}), "cli-help")
    result = json.loads(out)
    assert code == 1 and result["status"] == "FAILED"
    assert result["error"] == "UsageError" and "has no broker" in result["cause"]
