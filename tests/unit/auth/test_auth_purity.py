"""hubbub.auth is pure: no event loop, no sockets, no wall clock (time is injected)."""

from __future__ import annotations

import ast
from pathlib import Path

import hubbub.auth

FORBIDDEN = {"asyncio", "socket", "time", "selectors", "threading"}


def test_no_io_or_clock_imports() -> None:
    root = Path(hubbub.auth.__file__).parent
    modules = sorted(root.glob("*.py"))
    assert len(modules) >= 9
    for path in modules:
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
