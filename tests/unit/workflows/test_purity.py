"""The interpreter core is pure: no asyncio, socket or time (STYLE.md practice 1)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.purity import imported_modules

import hubbub.workflows

PURE = ["paths", "intrinsics", "choice", "payload", "dialects", "jsonata_mode", "history",
        "core", "machine", "mapstate", "execution", "validate", "pipeline", "errors", "states",
        "teststate", "testrequest"]
FORBIDDEN = {"asyncio", "socket", "time"}


def test_pure_modules_import_no_io_or_clock() -> None:
    root = Path(hubbub.workflows.__file__).parent
    for mod in PURE:
        bad = imported_modules(root / f"{mod}.py") & FORBIDDEN
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
    assert "asyncio" in imported_modules(root / "runner.py")


def test_public_api_names() -> None:
    import hubbub.workflows as w

    for name in w.__all__:
        assert getattr(w, name) is not None
    assert callable(w.pipeline.parse) and callable(w.pipeline.translate)
