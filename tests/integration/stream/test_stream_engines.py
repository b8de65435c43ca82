"""The chat's stream on the other engines the config can choose: Redis Streams (several
machines) and memory. Same flow: reactions counted once and shown in history."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import servers

from ..chat.chatclient import aget_json
from ..chat.conftest import start_node
from .test_stream_chat import acked, joined, of_type, reaction, runtime, say


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    try:
        with servers.redis_server() as srv:
            yield srv.url
    except servers.ServerUnavailable as e:
        pytest.skip(f"Redis unavailable: {e}")


@pytest.mark.parametrize("engine", ["redis", "memory"])
async def test_reactions_on_other_engines(tmp_path: Path, engine: str,
                                          request: pytest.FixtureRequest) -> None:
    extra = {"presenceDebounceSeconds": 0, "streamBatchingWindowMs": 100}
    options: dict[str, object] = {"stream_engine": engine}
    if engine == "redis":
        options["redis_url"] = request.getfixturevalue("redis_url")
    node = await start_node(tmp_path / "data", extra=extra, **options)
    try:
        assert type(runtime(node).engine).__name__.lower().startswith(engine)
        alice, bob = await joined(node, "yard", "alice", "bob")
        mid = await say(alice, "yard", "alice", "hi")
        await acked(alice.publish("chat/stream", reaction("yard", "alice", mid, "👍")),
                    bob.publish("chat/stream", reaction("yard", "bob", mid, "👍")))
        update = await bob.expect(of_type("reactions"))
        assert update["counts"] == {mid: {"👍": 2}}
        await runtime(node).wait_caught_up()
        status, page = await aget_json(f"{node.url}/api/rooms/yard/messages")
        assert status == 200 and page["messages"][0]["reactions"] == {"👍": 2}
        alice.close()
        bob.close()
    finally:
        await node.stop()
