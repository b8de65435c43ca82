"""The interpreter core is pure: no asyncio, socket or time (STYLE.md practice 1)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import hubbub.workflows

PURE = ["paths", "intrinsics", "choice", "payload", "dialects", "jsonata_mode", "history",
        "core", "machine", "mapstate", "execution", "validate", "pipeline", "errors", "states"]
FORBIDDEN = {"asyncio", "socket", "time"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_pure_modules_import_no_io_or_clock() -> None:
    root = Path(hubbub.workflows.__file__).parent
    for mod in PURE:
        bad = _imports(root / f"{mod}.py") & FORBIDDEN
        assert not bad, f"hubbub.workflows.{mod} imports {bad}"


def test_importing_the_core_loads_no_asyncio_or_socket() -> None:
    code = ("import sys\n"
            + "".join(f"import hubbub.workflows.{m}\n" for m in PURE)
            + "print(sorted(m for m in ('asyncio', 'socket') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_only_the_runner_is_async() -> None:
    root = Path(hubbub.workflows.__file__).parent
    assert "asyncio" in _imports(root / "runner.py")


def test_public_api_names() -> None:
    import hubbub.workflows as w

    for name in w.__all__:
        assert getattr(w, name) is not None
    assert callable(w.pipeline.parse) and callable(w.pipeline.translate)
