"""Shared helpers for the broker integration tests: fake clock, recorder, env."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from tests.clock import FakeClock

from hubbub.broker.broker import Broker
from hubbub.broker.hooks import AllowAll, Identity
from hubbub.broker.message import Message
from hubbub.broker.settings import BrokerSettings


@dataclass
class Recorder:
    """Observer that records every publish and can be told to wait or fail."""

    seen: list[tuple[Message, Identity | None]] = field(default_factory=list)
    queue: asyncio.Queue[tuple[Message, Identity | None]] = field(
        default_factory=asyncio.Queue)
    gate: asyncio.Event | None = None
    fail: bool = False

    def on_publish(self, msg: Message, origin: Identity | None) -> Any:
        self.seen.append((msg, origin))
        self.queue.put_nowait((msg, origin))
        if self.gate is None and not self.fail:
            return None
        return self._wait()

    async def _wait(self) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise RuntimeError("observer says no")

    async def next(self, prefix: str = "", timeout: float = 5.0) -> tuple[Message, Any]:
        while True:
            msg, origin = await asyncio.wait_for(self.queue.get(), timeout)
            if msg.topic.startswith(prefix):
                return msg, origin


@dataclass
class Env:
    broker: Broker
    port: int
    clock: FakeClock
    recorder: Recorder


async def make_env(settings: BrokerSettings | None = None, authenticator: Any = None,
                   **kw: Any) -> Env:
    clock = FakeClock()
    rec = Recorder()
    settings = settings or BrokerSettings(sweep_interval=0)
    broker = Broker(settings, authenticator=authenticator or AllowAll(), observers=[rec],
                    clock=clock, **kw)
    port = await broker.start_tcp("127.0.0.1", 0)
    return Env(broker, port, clock, rec)




async def gone(env: Env, client_id: str) -> dict[str, Any]:
    """Wait until the broker has published ``client_id``'s disconnected event."""
    import json

    msg, _ = await env.recorder.next(f"$aws/events/presence/disconnected/{client_id}")
    event: dict[str, Any] = json.loads(msg.payload)
    return event
