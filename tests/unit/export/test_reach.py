"""Reading what a function reaches through the sdk from its source (least privilege)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from hubbub.export.reach import SDK_CALLS, reach_of


def app(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path


EVERYTHING = {c: None for c in SDK_CALLS}

CASES: list[tuple[str, dict[str, str], str, dict[str, set[str] | None]]] = [
    ("literals", {"f.py": """
        from hubbub.functions import sdk
        async def handler(event, context):
            await sdk.table("a").put({})
            await sdk.put_record("s", "k", b"")
            await sdk.publish(topic="t/1", payload=b"")
     """}, "f:handler", {"table": {"a"}, "put_record": {"s"}, "publish": {"t/1"}}),
    ("computed target", {"f.py": """
        from hubbub.functions import sdk as api
        def handler(event, context):
            return api.table(event["t"]), api.table("b"), api.settings()
     """}, "f:handler", {"table": None}),
    ("only what the handler calls", {"f.py": """
        from hubbub.functions import sdk
        def unused():
            sdk.invoke("x", {})
        def helper():
            return sdk.table("a")
        def handler(event, context):
            return helper()
     """}, "f:handler", {"table": {"a"}}),
    ("through relative imports", {"pkg/__init__.py": "", "pkg/common.py": """
        from hubbub.functions.sdk import table, start_execution as start
        def read():
            return table("chat")
        def go():
            return start("m1")
     """, "pkg/one.py": """
        from . import common
        from .common import go
        def handler(event, context):
            common.read()
            go()
     """}, "pkg.one:handler", {"table": {"chat"}, "start_execution": {"m1"}}),
    ("module-level code runs on import", {"f.py": """
        from hubbub.functions import sdk
        TABLE = sdk.table("boot")
        def handler(event, context):
            return 1
     """}, "f:handler", {"table": {"boot"}}),
    ("an sdk function passed around", {"f.py": """
        from hubbub.functions import sdk
        from hubbub.functions.sdk import invoke
        def handler(event, context):
            return list(map(sdk.table, event)), invoke
     """}, "f:handler", {"table": None, "invoke": None}),
    ("the sdk itself passed around", {"f.py": """
        from hubbub.functions import sdk
        def handler(event, context):
            return getattr(sdk, event["op"])
     """}, "f:handler", EVERYTHING),
    ("star import", {"f.py": """
        from hubbub.functions.sdk import *
        def handler(event, context):
            return table("x")
     """}, "f:handler", EVERYTHING),
    ("handler not found", {"f.py": "handler = make()\n"}, "f:handler", EVERYTHING),
    ("module not found", {}, "nope:handler", EVERYTHING),
    ("syntax error", {"f.py": "def handler(:\n"}, "f:handler", EVERYTHING),
    ("broken imported module", {"g.py": "def x(:\n", "f.py": """
        from . import g
        def handler(event, context):
            return g.x()
     """}, "f:handler", EVERYTHING),
    ("nothing at all", {"f.py": """
        import json
        def handler(event, context):
            return json.dumps(event)
     """}, "f:handler", {}),
]


@pytest.mark.parametrize(("files", "handler", "want"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_reach(tmp_path: Path, files: dict[str, str], handler: str,
               want: dict[str, set[str] | None]) -> None:
    assert reach_of(app(tmp_path, files), handler).calls == want
