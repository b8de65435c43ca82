"""Which event loop ``hubbub serve`` runs on.

asyncio's own loop by default. uvloop (libuv under asyncio's API) is a setting away
(``--event-loop uvloop``, or ``auto``: uvloop when installed) but is not a dependency: an
early measurement showed +22-33% QoS 1 fan-out on it, and once the broker batched its own
output, three alternating side-by-side runs (2026-11-27 06:20, bench/NOTES.md) gave
uvloop/asyncio 0.88-1.07x on fan-out and chat: no gain to pay a dependency for. hubbub only
uses asyncio's public API, so both loops run the same code."""

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
