"""The MQTT core is sans-IO: nothing in hubbub.mqtt imports asyncio, socket or time."""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import hubbub.mqtt

FORBIDDEN = {"asyncio", "socket", "time", "selectors", "threading", "ssl"}


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
            roots.add("__import__")
    return roots


def test_mqtt_modules_import_no_io_or_clock() -> None:
    folder = Path(hubbub.mqtt.__file__).parent
    modules = [info.name for info in pkgutil.iter_modules([str(folder)])]
    assert {"codec", "decoder", "connection", "packets", "topics"} <= set(modules)
    for name in modules:
        bad = imported_roots(folder / f"{name}.py") & (FORBIDDEN | {"__import__"})
        assert not bad, f"hubbub.mqtt.{name} imports {bad}"
