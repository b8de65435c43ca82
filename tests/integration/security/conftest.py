"""A running Node (broker + tokens + policies + the chat) on free ports, with a clock the
test controls, an in-process recorder of every accepted publish, and helpers to mint
tokens exactly as ``POST /api/credentials`` does (same key file) without its rate limit."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from hubbub.auth.keys import Keyring
from hubbub.auth.tokens import TokenService
from hubbub.config import load_config
from hubbub.server import Node
from tests.clock import FakeClock

from .peers import V5, Peer, Recorder


@dataclass
class Server:
    node: Node
    clock: Callable[[], float]
    recorder: Recorder
    data: Path

    @property
    def url(self) -> str:
        return self.node.url

    def tokens(self, clock: Callable[[], float] | None = None) -> TokenService:
        ring = Keyring.load(self.data / "keys.json", clock=clock or self.clock)
        return TokenService(ring, clock or self.clock)

    def mint(self, client_id: str, *, ttl: float = 3600, policy: str = "chat-guest",
             clock: Callable[[], float] | None = None) -> str:
        token, _ = self.tokens(clock).sign(identity_id=f"local:test-{client_id}",
                                           client_id=client_id, policy_name=policy,
                                           guest=True, ttl=ttl)
        return token

    def peer(self, client_id: str, password: str | bytes | None, *, version: int = V5,
             transport: str = "tcp") -> Peer:
        port = self.node.mqtt_port if transport == "tcp" else self.node.http_port
        assert port is not None
        return Peer(host="127.0.0.1", port=port, client_id=client_id, password=password,
                    version=version, transport=transport)


async def start_server(data: Path, clock: Callable[[], float] = time.time,
                       **overrides: object) -> Server:
    cfg = load_config(env={}, overrides={"host": "127.0.0.1", "port": 0, "mqtt_port": 0,
                                         "data": str(data), **overrides})
    cfg = cfg.replace(extra={"presenceDebounceSeconds": 0})
    node = Node(cfg, wall_clock=clock, ephemeral_mqtt_port=True)
    await node.start()
    rec = Recorder()
    node.broker.add_observer(rec)
    return Server(node, clock, rec, data)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    s = await start_server(tmp_path / "data")
    try:
        yield s
    finally:
        await s.node.stop()


@pytest.fixture
async def clocked(tmp_path: Path) -> AsyncIterator[tuple[Server, FakeClock]]:
    clock = FakeClock(time.time())  # tokens are also checked against the real clock
    s = await start_server(tmp_path / "data", clock)
    try:
        yield s, clock
    finally:
        await s.node.stop()
