"""The IoT SQL evaluator is pure: nothing under it imports asyncio, socket or time."""

from __future__ import annotations

from pathlib import Path

from tests.purity import imported_modules

import hubbub.rules

RULES = Path(hubbub.rules.__file__).parent
IMPURE = {"asyncio", "socket", "time", "threading", "subprocess", "os", "random", "uuid"}
SHELL = {"engine.py", "__init__.py"}  # the engine is the async shell around the pure core


def test_pure_modules_import_no_io_clock_or_randomness() -> None:
    checked = 0
    for path in sorted(RULES.rglob("*.py")):
        if path.name in SHELL and path.parent == RULES:
            continue
        bad = imported_modules(path) & IMPURE
        assert not bad, f"{path.relative_to(RULES)} imports {sorted(bad)}"
        checked += 1
    assert checked >= 10
