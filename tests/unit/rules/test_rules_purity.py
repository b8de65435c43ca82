"""The IoT SQL evaluator is pure: nothing under it imports asyncio, socket or time."""

from __future__ import annotations

import ast
from pathlib import Path

import hubbub.rules

RULES = Path(hubbub.rules.__file__).parent
IMPURE = {"asyncio", "socket", "time", "threading", "subprocess", "os", "random", "uuid"}
SHELL = {"engine.py", "__init__.py"}  # the engine is the async shell around the pure core


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_pure_modules_import_no_io_clock_or_randomness() -> None:
    checked = 0
    for path in sorted(RULES.rglob("*.py")):
        if path.name in SHELL and path.parent == RULES:
            continue
        bad = _imports(path) & IMPURE
        assert not bad, f"{path.relative_to(RULES)} imports {sorted(bad)}"
        checked += 1
    assert checked >= 10
