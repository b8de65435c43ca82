"""``hubbub sfn test-state`` through the real command line parser (hubbub.cli.main): the
answer printed as JSON, exit codes, one-line errors for bad requests, and a Task without
a mock calling the application's function."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hubbub.cli import main

from .conftest import APP

MACHINE = {"StartAt": "Double", "States": {
    "Double": {"Type": "Task", "Resource": "double", "Parameters": {"x.$": "$.n"},
               "ResultPath": "$.doubled", "Next": "Done",
               "Retry": [{"ErrorEquals": ["ValueError"], "MaxAttempts": 2}],
               "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Done"}]},
    "Done": {"Type": "Succeed"}}}


def hubbub(capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: str
           ) -> tuple[int, Any, str]:
    code = main(["sfn", "test-state", "--data", str(tmp_path / "data"), "--app", str(APP),
                 *args])
    cap = capsys.readouterr()
    return code, json.loads(cap.out) if cap.out else None, cap.err


@pytest.fixture
def machine(tmp_path: Path) -> str:
    path = tmp_path / "machine.json"
    path.write_text(json.dumps(MACHINE))
    return str(path)


def test_a_mocked_task_at_debug_level(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                      machine: str) -> None:
    code, resp, err = hubbub(capsys, tmp_path, "--definition", machine, "--input",
                             '{"n": 5}', "--mock-result", "10", "--inspection-level", "debug")
    assert (code, err) == (0, "")
    assert resp["status"] == "SUCCEEDED" and resp["nextState"] == "Done"
    assert json.loads(resp["output"]) == {"n": 5, "doubled": 10}
    assert json.loads(resp["inspectionData"]["afterParameters"]) == {"x": 5}
    assert not (tmp_path / "data").exists()  # a mocked test touches no data


def test_mocked_errors_retriable_then_caught(capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path, machine: str) -> None:
    args = ["--definition", machine, "--input", '{"n": 1}', "--mock-error", "ValueError",
            "--mock-cause", "odd", "--inspection-level", "TRACE"]
    code, resp, _ = hubbub(capsys, tmp_path, *args)
    assert code == 1 and resp["status"] == "RETRIABLE"
    assert resp["inspectionData"]["errorDetails"] == {"retryIndex": 0,
                                                      "retryBackoffIntervalSeconds": 1}
    code, resp, _ = hubbub(capsys, tmp_path, *args, "--retry-count", "2")
    assert code == 1 and resp["status"] == "CAUGHT_ERROR" and resp["nextState"] == "Done"
    assert json.loads(resp["output"]) == {"Error": "ValueError", "Cause": "odd"}


def test_a_task_without_a_mock_calls_the_apps_function(capsys: pytest.CaptureFixture[str],
                                                       tmp_path: Path, machine: str) -> None:
    code, resp, err = hubbub(capsys, tmp_path, "--definition", machine, "--input", '{"n": 21}')
    assert (code, err) == (0, "")
    assert json.loads(resp["output"]) == {"n": 21, "doubled": 42}
    state = tmp_path / "boom.json"
    state.write_text(json.dumps({"Type": "Task", "Resource": "boom", "End": True}))
    code, resp, _ = hubbub(capsys, tmp_path, "--definition", str(state))
    assert code == 1 and resp["status"] == "FAILED" and resp["error"] == "ValueError"
    assert json.loads(resp["cause"])["errorMessage"] == "no luck"


def test_a_named_state_and_stdin(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(MACHINE)))
    code, resp, _ = hubbub(capsys, tmp_path, "--definition", "-", "--state", "Done",
                           "--input", "[1]")
    assert code == 0 and resp == {"status": "SUCCEEDED", "output": "[1]"}


@pytest.mark.parametrize(("args", "message"), [
    ([], "sfn test-state needs --definition FILE"),
    (["--definition", "/nonexistent/m.json"],
     "cannot read --definition /nonexistent/m.json: No such file or directory"),
    (["--definition", "{machine}", "--input", "{oops"], "input is not valid JSON"),
    (["--definition", "{machine}", "--state", "Nope"], "'Nope' is not a state"),
    (["--definition", "{machine}", "--mock-result", "1", "--mock-error", "E"],
     "give --mock-result or --mock-error, not both"),
    (["--definition", "{machine}", "--mock-cause", "why"], "--mock-cause goes with"),
    (["--definition", "{machine}", "--state", "Done", "--mock-result", "1"],
     "a Succeed state cannot be mocked"),
    (["--definition", "{bad}"], "Invalid State Machine Definition"),
    (["--definition", "{machine}", "--variables", "[]"], "variables must be a JSON object"),
])
def test_bad_requests_get_one_line_and_exit_2(capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path, machine: str,
                                              args: list[str], message: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Z"}}}')
    args = [a.replace("{machine}", machine).replace("{bad}", str(bad)) for a in args]
    code, resp, err = hubbub(capsys, tmp_path, *args)
    assert code == 2 and resp is None
    assert err.startswith("hubbub: ") and message in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_argparse_refuses_an_unknown_level(capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path, machine: str) -> None:
    with pytest.raises(SystemExit) as info:
        main(["sfn", "test-state", "--definition", machine, "--inspection-level", "loud"])
    assert info.value.code == 2
    assert "invalid choice: 'LOUD'" in capsys.readouterr().err
