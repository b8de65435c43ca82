"""The serve loop choice: asyncio's own by default, uvloop on request or with auto when
installed, a clear ConfigError (never an ImportError traceback) when uvloop is asked for
but absent."""

from __future__ import annotations

import asyncio
import sys

import pytest

from hubbub import loops
from hubbub.errors import ConfigError


def test_auto_prefers_uvloop_when_installed() -> None:
    pytest.importorskip("uvloop")  # the bench extra, which the test command installs
    name, factory = loops.loop_factory("auto")
    assert name == "uvloop"
    loop = factory()
    try:
        assert type(loop).__module__.startswith("uvloop")
        assert loop.run_until_complete(asyncio.sleep(0, "ran")) == "ran"
    finally:
        loop.close()


def test_asyncio_on_request() -> None:
    name, factory = loops.loop_factory("asyncio")
    assert name == "asyncio" and factory is asyncio.new_event_loop


def test_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loops, "uvloop_available", lambda: False)
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop -> ImportError
    assert loops.loop_factory("auto")[0] == "asyncio"
    with pytest.raises(ConfigError, match="uvloop is not installed"):
        loops.loop_factory("uvloop")


def test_unknown_choice() -> None:
    with pytest.raises(ConfigError, match="'trio' is not auto, uvloop or asyncio"):
        loops.loop_factory("trio")
