"""What a scenario gets from the generator: where to connect, how to measure, how hard."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bench.client import Conn, Target, connect_client
from bench.probe import Probe

Result = dict[str, Any]


@dataclass
class Durations:
    """Seconds per phase; --quick shrinks them."""

    warmup: float
    measure: float
    drain_max: float = 30.0  # upper bound; the drain stops after 2 s without progress


@dataclass
class Context:
    target: Target
    probe: Probe
    quick: bool
    durations: Durations
    run_id: str
    batch: int = 250  # connections opened concurrently: bounded so the listen backlog copes
    broker: str = ""  # the broker's name as run (hubbub variants carry settings: +window100)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def client_id(self) -> str:
        return f"{self.run_id}-{next(self._ids)}"

    async def connect_many(
        self, n: int, keepalive: int = 60, setup: Callable[[Conn], Awaitable[None]] | None = None
    ) -> tuple[list[Conn], int]:
        """Open n connections in batches; returns (connections, failures)."""
        conns: list[Conn] = []
        failures = 0

        async def one() -> Conn:
            conn = await connect_client(self.target, self.client_id(), keepalive)
            if setup is not None:
                await setup(conn)
            return conn

        for start in range(0, n, self.batch):
            size = min(self.batch, n - start)
            results = await asyncio.gather(*(one() for _ in range(size)), return_exceptions=True)
            for r in results:
                if isinstance(r, Conn):
                    conns.append(r)
                else:
                    failures += 1
        return conns, failures


async def close_all(conns: list[Conn]) -> None:
    for c in conns:
        c.close()
    if conns:
        await asyncio.wait([asyncio.ensure_future(c.closed) for c in conns], timeout=5.0)
