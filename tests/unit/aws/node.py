"""Run the web client's ``aws.js`` in node (tests/unit/aws/driver.mjs) and return what each
call answered: ``{"ok": True, "value": ...}`` or ``{"ok": False, "error": {...}}``."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import hubbub

AWS_JS = Path(hubbub.__file__).parent / "apps" / "chat" / "web" / "aws.js"
DRIVER = Path(__file__).with_name("driver.mjs")


def run_js(*calls: tuple[str, list[Any]], timeout: float = 20) -> list[dict[str, Any]]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    payload = json.dumps({"module": str(AWS_JS),
                          "calls": [{"fn": fn, "args": args} for fn, args in calls]})
    done = subprocess.run([node, str(DRIVER)], input=payload, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr
    out: list[dict[str, Any]] = json.loads(done.stdout)
    assert len(out) == len(calls)
    return out


def value(result: dict[str, Any]) -> Any:
    assert result["ok"], result.get("error")
    return result["value"]
