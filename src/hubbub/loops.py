"""Which event loop ``hubbub serve`` runs on.

uvloop (libuv under asyncio's API) is chosen when installed: the broker's QoS 1 fan-out
measured 22-33% faster on it and nothing slower (bench/NOTES-broker-ws.md). hubbub only
uses asyncio's public API, so asyncio's own loop stays a setting away (``--event-loop
asyncio``), and the in-process tests run on it while the ``hubbub serve`` subprocess tests
run on the default."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable

from hubbub.errors import ConfigError

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def uvloop_available() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def loop_factory(choice: str) -> tuple[str, LoopFactory]:
    """The loop's name and a factory for ``asyncio.Runner`` for ``event_loop`` ``choice``."""
    if choice == "asyncio" or (choice == "auto" and not uvloop_available()):
        return "asyncio", asyncio.new_event_loop
    if choice not in ("auto", "uvloop"):
        raise ConfigError(f"event_loop: {choice!r} is not auto, uvloop or asyncio")
    try:
        import uvloop
    except ImportError:
        raise ConfigError("event_loop uvloop: uvloop is not installed "
                          "(pip install uvloop, or --event-loop asyncio)") from None
    return "uvloop", uvloop.new_event_loop
