"""start_fanout on a node: ``local`` starts nothing, an unreachable Redis refuses to start
with a clear error, a second call is harmless. Needs no servers."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubbub.errors import ConfigError
from hubbub.fanout_wiring import new_node_id, start_fanout

from ..chat.conftest import start_node
from .conftest import servers


async def test_local_fanout_starts_nothing(tmp_path: Path) -> None:
    node = await start_node(tmp_path / "n", table_engine="memory", stream_engine="memory")
    try:
        assert await start_fanout(node) is None
        assert node.fanout is None  # type: ignore[attr-defined]
    finally:
        await node.stop()


async def test_unreachable_redis_is_a_config_error(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{servers.free_port()}/0"  # nobody listens there
    settings = dict(table_engine="memory", stream_engine="memory", fanout="redis",
                    redis_url=url)
    try:
        node = await start_node(tmp_path / "n", **settings)
    except ConfigError as exc:  # Node._start calls start_fanout: the node does not start
        assert "redis fan-out: cannot reach" in str(exc)
        return
    try:
        with pytest.raises(ConfigError, match="redis fan-out: cannot reach"):
            await start_fanout(node)
        assert node.fanout is None  # type: ignore[attr-defined]
    finally:
        await node.stop()


def test_node_ids_are_unique_per_start() -> None:
    a, b = new_node_id(), new_node_id()
    assert a != b and 0 < len(a.encode()) <= 255
