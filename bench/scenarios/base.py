"""What a scenario is: a name, a one-line description and an async run over a Context."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bench.context import Context, Result


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    run: Callable[[Context], Awaitable[Result]]
