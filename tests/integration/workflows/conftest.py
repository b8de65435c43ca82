from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hubbub.app import load_app
from hubbub.config import load_config
from hubbub.server import Node

APP = Path(__file__).parent / "app"


def config(data: Path, **overrides: Any) -> Any:
    cfg = load_config(env={}, overrides={"host": "127.0.0.1", "port": 0, "mqtt_port": 0,
                                         "data": str(data), **overrides})
    return cfg.replace(extra={"presenceDebounceSeconds": 0})


async def start_node(data: Path, app: Path | None = None) -> Node:
    node = Node(config(data), app=load_app(app) if app else None, ephemeral_mqtt_port=True)
    await node.start()
    return node


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    n = await start_node(tmp_path / "data")
    try:
        yield n
    finally:
        await n.stop()


async def seed(node: Node, room: str, messages: list[tuple[str, str]],
               start: int = 1_700_000_000_000) -> None:
    """Put messages into the room's history as the ChatStore rule would."""
    table = node.services.table("chat")
    for i, (user, text) in enumerate(messages):
        ts = start + i
        await table.put({"type": "message", "id": f"{ts}-{i:06d}", "room": room, "user": user,
                         "text": text, "clientId": f"c-{user}", "timestamp": ts})
