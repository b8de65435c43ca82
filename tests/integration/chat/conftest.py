from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hubbub.config import load_config
from hubbub.server import Node


async def start_node(data: Path, **overrides: object) -> Node:
    extra = overrides.pop("extra", {"presenceDebounceSeconds": 0})
    cfg = load_config(env={}, overrides={"host": "127.0.0.1", "port": 0, "mqtt_port": 0,
                                         "data": str(data), **overrides})
    cfg = cfg.replace(extra=extra)
    node = Node(cfg, ephemeral_mqtt_port=True)
    await node.start()
    return node


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    n = await start_node(tmp_path / "data")
    try:
        yield n
    finally:
        await n.stop()
